# GEN_SANITIZE=ON: AddressSanitizer + UndefinedBehaviorSanitizer for every target.
if(GEN_SANITIZE)
  set(_gen_san -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_compile_options($<$<COMPILE_LANGUAGE:C,CXX>:${_gen_san}>)
  add_link_options(${_gen_san})
endif()
