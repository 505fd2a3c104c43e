include(CMakePackageConfigHelpers)

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
