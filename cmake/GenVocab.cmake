# The CLIP vocabulary gen tokenizes with when a model brings none (single checkpoint files):
# bpe_simple_vocab_16e6.txt.gz and its MIT licence, from PyPI's clip-anytorch wheel, fetched by
# scripts/clip_vocab.sh (scripts/setup.sh passes -DGEN_CLIP_VOCAB_DIR). Copied into the build
# tree's share/gen/clip/ (where build/tools/gen finds it, ../share from its own folder, and the
# tests read it: GEN_VOCAB_FILE) and installed to <prefix>/share/gen/clip/.
set(GEN_CLIP_VOCAB_DIR "" CACHE PATH "Folder holding bpe_simple_vocab_16e6.txt.gz and LICENSE (scripts/clip_vocab.sh)")
set(GEN_VOCAB_FILE "${PROJECT_BINARY_DIR}/share/gen/clip/bpe_simple_vocab_16e6.txt.gz")
if(GEN_CLIP_VOCAB_DIR)
  foreach(f bpe_simple_vocab_16e6.txt.gz LICENSE)
    if(NOT EXISTS "${GEN_CLIP_VOCAB_DIR}/${f}")
      message(FATAL_ERROR "GEN_CLIP_VOCAB_DIR=${GEN_CLIP_VOCAB_DIR} has no ${f} (run scripts/clip_vocab.sh)")
    endif()
    configure_file("${GEN_CLIP_VOCAB_DIR}/${f}" "${PROJECT_BINARY_DIR}/share/gen/clip/${f}" COPYONLY)
  endforeach()
  install(FILES "${PROJECT_BINARY_DIR}/share/gen/clip/bpe_simple_vocab_16e6.txt.gz"
                "${PROJECT_BINARY_DIR}/share/gen/clip/LICENSE"
          DESTINATION ${CMAKE_INSTALL_DATADIR}/gen/clip)
else()
  message(STATUS "gen: no CLIP vocabulary (GEN_CLIP_VOCAB_DIR unset): single checkpoint files will need --vocab, "
                 "and the tests that tokenize will fail; scripts/setup.sh fetches it")
endif()
