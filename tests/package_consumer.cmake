# Installs gen from BINARY_DIR into WORK_DIR/prefix, builds the program in SOURCE_DIR
# against it with find_package(gen), and runs PROGRAM with ARGS (";"-separated; @WORK@ is
# replaced by WORK_DIR). With PYTHON and TOOLS set, tiny models are made first in
# WORK_DIR/models (tools/make_tiny_models.py).
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix
    -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
if(PYTHON AND TOOLS)
  run(${PYTHON} ${TOOLS}/make_tiny_models.py --out ${WORK_DIR}/models)
endif()
string(REPLACE "@WORK@" "${WORK_DIR}" args "${ARGS}")
run(${WORK_DIR}/build/${PROGRAM} ${args})
