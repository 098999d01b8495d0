# The llama.cpp reference harness (harness.c), built when scripts/setup.sh has installed the
# prebuilt libraries and cloned llama.cpp's source for its headers. Sets NS_LLAMACPP_HARNESS to the
# built program (empty when absent: the tests that need it skip) and NS_LLAMACPP_SRC to the source.
# The libraries are node-llama-cpp's linux-x64 build: a cross build (scripts/test-aarch64.sh) cannot
# link them, and its tests skip the cross-checks.
set(NS_LLAMACPP_DIR ${CMAKE_CURRENT_LIST_DIR})
set(NS_LLAMACPP_BINS ${NS_LLAMACPP_DIR}/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64)
set(NS_LLAMACPP_SRC ${NS_LLAMACPP_DIR}/llama.cpp)
set(NS_LLAMACPP_HARNESS "")
file(GLOB NS_LLAMA_LIB ${NS_LLAMACPP_BINS}/libllama.v*.so)
file(GLOB NS_GGML_LIB ${NS_LLAMACPP_BINS}/libggml.v*.so)
if(CMAKE_CROSSCOMPILING OR NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  message(STATUS "llama.cpp reference harness: x86-64 only (the prebuilt linux-x64 libraries); its cross-checks will skip")
elseif(NS_LLAMA_LIB AND NS_GGML_LIB AND EXISTS ${NS_LLAMACPP_BINS}/libggml-base.so
   AND EXISTS ${NS_LLAMACPP_SRC}/include/llama.h)
  add_executable(llamacpp_harness ${NS_LLAMACPP_DIR}/harness.c)
  target_include_directories(llamacpp_harness PRIVATE ${NS_LLAMACPP_SRC}/include ${NS_LLAMACPP_SRC}/ggml/include)
  target_compile_definitions(llamacpp_harness PRIVATE NS_LLAMACPP_BINS="${NS_LLAMACPP_BINS}")
  target_compile_options(llamacpp_harness PRIVATE -std=c11)
  target_link_libraries(llamacpp_harness PRIVATE ${NS_LLAMA_LIB} ${NS_GGML_LIB} ${NS_LLAMACPP_BINS}/libggml-base.so m)
  set_target_properties(llamacpp_harness PROPERTIES BUILD_RPATH ${NS_LLAMACPP_BINS})
  set(NS_LLAMACPP_HARNESS $<TARGET_FILE:llamacpp_harness>)
else()
  message(STATUS "llama.cpp reference not installed (scripts/setup.sh): its cross-checks will skip")
endif()
