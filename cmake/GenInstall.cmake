include(CMakePackageConfigHelpers)

# A relocatable install: no absolute RUNPATH. libgen-engine finds libtorch through one symlink
# beside it, <libdir>/gen-libtorch → the torch package folder it was built against (site-packages/
# torch), and the CUDA runtime of the nvidia-* wheels beside that folder. Move the install tree
# as it is; after moving torch, point the link at the new place (docs/api.md):
#   ln -sfn /new/site-packages/torch <prefix>/lib/gen-libtorch
# tests/cli/test_relocatable.sh moves both.
if(GEN_WITH_TORCH AND GEN_TORCH_ROOT)
  set(_gen_rpath "$ORIGIN/gen-libtorch/lib")
  file(GLOB _gen_cudart "${GEN_TORCH_ROOT}/../nvidia/*/lib/libcudart.so*")
  if(GEN_CUDA AND _gen_cudart)
    list(GET _gen_cudart 0 _gen_cudart)
    get_filename_component(_gen_cudart_dir "${_gen_cudart}" DIRECTORY)
    get_filename_component(_gen_site "${GEN_TORCH_ROOT}/.." REALPATH)
    file(RELATIVE_PATH _gen_rel "${_gen_site}" "${_gen_cudart_dir}")
    list(APPEND _gen_rpath "$ORIGIN/gen-libtorch/../${_gen_rel}")
  endif()
  set_target_properties(gen_engine PROPERTIES INSTALL_RPATH "${_gen_rpath}")
endif()

install(TARGETS gen_engine EXPORT genTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET gen)
  install(TARGETS gen RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/gen DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT genTargets NAMESPACE gen:: FILE genTargets.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gen)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/genConfig.cmake.in
  ${PROJECT_BINARY_DIR}/genConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gen)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/genConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/genConfig.cmake ${PROJECT_BINARY_DIR}/genConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gen)

# The libtorch link (see the top), after the library is in place.
if(GEN_WITH_TORCH AND GEN_TORCH_ROOT)
  install(CODE "
    set(_link \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/gen-libtorch\")
    file(MAKE_DIRECTORY \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}\")
    file(REMOVE \"\${_link}\")
    file(CREATE_LINK \"${GEN_TORCH_ROOT}\" \"\${_link}\" SYMBOLIC)
    message(STATUS \"Installing: \${_link} -> ${GEN_TORCH_ROOT}\")")
endif()
