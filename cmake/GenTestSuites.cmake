# gen_add_test_suites(TARGET PREFIX prefix [ENVIRONMENT var=value...]): one CTest test per
# GoogleTest suite of the test binary TARGET, `<prefix>.<Suite>` running
# `TARGET --gtest_filter=<Suite>.*`, label `unit`.
#
# Why per suite: gtest_discover_tests makes one process per test case, and every process of a
# binary linked with libtorch pays its load (~1.8 s): one process per suite keeps CTest
# parallel at a fraction of the cost. The suites are listed after each link
# (`TARGET --gtest_list_tests`, as gtest_discover_tests does), so a new TEST, TEST_F or TEST_P
# is picked up with no CMake edit. A suite whose every test skipped itself (GPU tests on a
# machine without one) exits with 77 (tests/unit/main.cpp) and is reported "Skipped".
#
# The same file, run as a script (-P) after the link, writes the suite list.

if(CMAKE_SCRIPT_MODE_FILE)
  # Build time: EXE --gtest_list_tests → set(gen_suites ...) in OUT. Suite lines are the
  # unindented ones, "Suite." (typed suites add "  # TypeParam = ...").
  execute_process(COMMAND "${EXE}" --gtest_list_tests
    OUTPUT_VARIABLE listing ERROR_VARIABLE errors RESULT_VARIABLE rc TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${EXE} --gtest_list_tests failed (${rc}):\n${listing}\n${errors}")
  endif()
  string(REPLACE "\n" ";" lines "${listing}")
  set(suites "")
  foreach(line IN LISTS lines)
    if(line MATCHES "^([^ #][^ ]*)\\.( .*)?$")
      list(APPEND suites "${CMAKE_MATCH_1}")
    endif()
  endforeach()
  if(NOT suites)
    message(FATAL_ERROR "${EXE} --gtest_list_tests listed no test suite:\n${listing}")
  endif()
  file(WRITE "${OUT}" "set(gen_suites \"${suites}\")\n")
  return()
endif()

set(_gen_test_suites_script ${CMAKE_CURRENT_LIST_FILE})

function(gen_add_test_suites target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "PREFIX" "ENVIRONMENT")
  set(list_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_suites.cmake)
  set(include_file ${CMAKE_CURRENT_BINARY_DIR}/${target}_ctest.cmake)
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -D EXE=$<TARGET_FILE:${target}> -D OUT=${list_file}
      -P ${_gen_test_suites_script}
    BYPRODUCTS ${list_file}
    COMMENT "Listing the test suites of ${target}"
    VERBATIM)
  # Read by CTest (script mode): one add_test per listed suite.
  set(test "${arg_PREFIX}.\${suite}")
  file(GENERATE OUTPUT ${include_file} CONTENT
"if(EXISTS \"${list_file}\")
  include(\"${list_file}\")
  foreach(suite IN LISTS gen_suites)
    add_test(\"${test}\" \"$<TARGET_FILE:${target}>\" \"--gtest_filter=\${suite}.*\")
    set_tests_properties(\"${test}\" PROPERTIES LABELS unit SKIP_RETURN_CODE 77
      ENVIRONMENT \"${arg_ENVIRONMENT}\")
  endforeach()
else()
  add_test(${arg_PREFIX}.NOT_BUILT ${target}_NOT_BUILT)
endif()
")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${include_file})
endfunction()
