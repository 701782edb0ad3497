# Cross build for 64-bit ARM Linux with Debian's cross toolchain (g++-aarch64-linux-gnu),
# against arm64 multiarch packages (libtbb-dev:arm64, libgtest-dev:arm64, libpcre2-dev:arm64);
# ctest runs the executables under qemu-user. scripts/run-arm64-tests.sh installs all of it.
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# -march=native would name the build machine: our executables take the compiler's default
# (armv8-a, NEON included) unless DSV4_ARCH says otherwise.
set(DSV4_ARCH none CACHE STRING "instruction set for tests/examples/benchmarks (see CMakeLists.txt)")
# find_package and find_library look in the arm64 multiarch folders (/usr/lib/aarch64-linux-gnu).
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
# pkg-config (PCRE2) reads the arm64 .pc files and the architecture-independent ones only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")

# xsimd and xtensor are header-only, but Debian puts their CMake package files in the build
# machine's multiarch folder, and their :arm64 packages cannot be installed beside the
# native ones: the native package files serve (they name headers in /usr/include only).
foreach(header_only_package xsimd xtensor)
  set(dir "/usr/lib/${CMAKE_HOST_SYSTEM_PROCESSOR}-linux-gnu/cmake/${header_only_package}")
  if(NOT DEFINED ${header_only_package}_DIR AND EXISTS "${dir}")
    set(${header_only_package}_DIR "${dir}" CACHE PATH "")
  endif()
endforeach()

# ctest (and gtest_discover_tests) run the test executables under qemu, with the arm64
# multiarch loader and C library (libc6:arm64, which libtbb12:arm64 needs anyway). Not
# `-L /usr/aarch64-linux-gnu`: that loader (libc6-arm64-cross) with the multiarch libc.so.6 of
# another release hung in the first thread creation of any TBB parallel_for.
find_program(DSV4_QEMU_AARCH64 NAMES qemu-aarch64 qemu-aarch64-static REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR "${DSV4_QEMU_AARCH64}")
