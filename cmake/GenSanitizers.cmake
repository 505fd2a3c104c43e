# GEN_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for every target.
# scripts/sanitize.sh builds and runs the unit tests this way (build-asan/).
if(GEN_SANITIZE)
  set(_gen_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # Quoted: the generator expression must receive the whole list, not one flag per argument.
  add_compile_options("$<$<COMPILE_LANGUAGE:C,CXX>:${_gen_san}>")
  add_link_options(${_gen_san})
endif()
