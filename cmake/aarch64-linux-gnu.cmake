# Toolchain file: cross-build for 64-bit Arm Linux with Debian's g++-aarch64-linux-gnu and the arm64
# multiarch -dev packages (scripts/test-aarch64.sh installs both). Binaries run under qemu-aarch64.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DNIGHTSHIFT_NATIVE=OFF
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Libraries and package configs from /usr/lib/aarch64-linux-gnu, headers from /usr/include.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# The arm64 packages that cannot be installed beside the host's (libsentencepiece) are unpacked by
# scripts/setup.sh --aarch64 into build-aarch64-sysroot/ at the repository's root.
get_filename_component(NS_AARCH64_SYSROOT ${CMAKE_CURRENT_LIST_DIR}/../build-aarch64-sysroot ABSOLUTE)
set(ENV{PKG_CONFIG_LIBDIR}
    ${NS_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
# ctest and gtest_discover_tests run the test binaries through qemu.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)
