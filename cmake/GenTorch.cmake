# libtorch from the torch wheel (CMAKE_PREFIX_PATH = torch.utils.cmake_prefix_path).
#
# CUDA builds use torch's own CMake config (find_package(Torch)). PyPI's torch wheel is a CUDA
# build, and that config stops without the CUDA toolkit ("Your installed Caffe2 version uses
# CUDA but I cannot find the CUDA libraries") even for a CPU-only consumer. So a CPU-only build
# (GEN_CUDA OFF: asked for, or no nvcc) does not call it: it links the wheel's CPU libraries
# (libtorch_cpu, libc10) directly, with the include folders and definitions torch_cpu's config
# gives its consumers (Caffe2Targets.cmake). libtorch_cpu's own CUDA dependencies (libcudart,
# libcupti) come with the wheel's nvidia-* packages and are found through its RUNPATH.
# tests/cli/test_cpu_only_build.sh builds this way with the toolkit hidden.
if(GEN_CUDA)
  # Torch's CUDA setup ignores CMAKE_CUDA_ARCHITECTURES; it reads TORCH_CUDA_ARCH_LIST.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;8.6;8.9;9.0")
  endif()
  find_package(Torch 2.0 REQUIRED)
  get_filename_component(GEN_TORCH_ROOT "${TORCH_INSTALL_PREFIX}" REALPATH)
  message(STATUS "gen: libtorch ${Torch_VERSION} from ${GEN_TORCH_ROOT} (CUDA)")
  return()
endif()

set(_gen_torch_hints "")
foreach(p IN LISTS CMAKE_PREFIX_PATH)
  list(APPEND _gen_torch_hints "${p}/../..")  # torch/share/cmake → torch/
endforeach()
find_path(GEN_TORCH_ROOT NAMES include/torch/csrc/api/include/torch/torch.h
          HINTS ${_gen_torch_hints} NO_DEFAULT_PATH)
if(NOT GEN_TORCH_ROOT)
  message(FATAL_ERROR "gen: libtorch not found: set CMAKE_PREFIX_PATH to the output of "
                      "python -c 'import torch.utils; print(torch.utils.cmake_prefix_path)'")
endif()
get_filename_component(GEN_TORCH_ROOT "${GEN_TORCH_ROOT}" REALPATH)
find_library(GEN_TORCH_CPU_LIBRARY torch_cpu PATHS "${GEN_TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
find_library(GEN_C10_LIBRARY c10 PATHS "${GEN_TORCH_ROOT}/lib" NO_DEFAULT_PATH REQUIRED)
file(STRINGS "${GEN_TORCH_ROOT}/share/cmake/Torch/TorchConfigVersion.cmake" _gen_torch_version
     REGEX "^set\\(PACKAGE_VERSION \"")
string(REGEX MATCH "\"([0-9.]+)\"" _ "${_gen_torch_version}")
set(Torch_VERSION "${CMAKE_MATCH_1}")
if(Torch_VERSION VERSION_LESS 2.0)
  message(FATAL_ERROR "gen: libtorch ${Torch_VERSION} at ${GEN_TORCH_ROOT} is older than 2.0")
endif()

add_library(gen_torch_cpu INTERFACE IMPORTED)
target_include_directories(gen_torch_cpu SYSTEM INTERFACE "${GEN_TORCH_ROOT}/include"
                                                          "${GEN_TORCH_ROOT}/include/torch/csrc/api/include")
target_compile_definitions(gen_torch_cpu INTERFACE USE_DISTRIBUTED USE_C10D_GLOO USE_RPC USE_TENSORPIPE)
target_compile_features(gen_torch_cpu INTERFACE cxx_std_17)
target_link_libraries(gen_torch_cpu INTERFACE "${GEN_TORCH_CPU_LIBRARY}" "${GEN_C10_LIBRARY}")
set(TORCH_LIBRARIES gen_torch_cpu)
message(STATUS "gen: libtorch ${Torch_VERSION} from ${GEN_TORCH_ROOT} (CPU libraries only)")
