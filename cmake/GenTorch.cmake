# libtorch from the torch wheel (CMAKE_PREFIX_PATH = torch.utils.cmake_prefix_path).
# Torch's own config looks for the CUDA toolkit; when we build CPU-only, or it is
# absent, we still link the same libtorch (its CUDA libraries are loaded at run time).
if(NOT GEN_CUDA)
  set(CAFFE2_USE_CUDNN OFF)
endif()
# Torch's CUDA setup ignores CMAKE_CUDA_ARCHITECTURES; it reads TORCH_CUDA_ARCH_LIST.
if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(ENV{TORCH_CUDA_ARCH_LIST} "8.0;8.6;8.9;9.0")
endif()
find_package(Torch 2.0 REQUIRED)
message(STATUS "gen: libtorch ${Torch_VERSION} from ${Torch_DIR}")
# Torch's imported targets add flags for all of its consumers; keep them but drop
# the global CMAKE_CXX_FLAGS mutation some versions do.
