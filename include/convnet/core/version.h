// Which convnet this is and which oneDNN it runs on: for `convnet --version`, bug reports, and the
// "convnet_version" that every weights file and checkpoint records in its metadata.
#pragma once

#include <string>

namespace convnet {

// The library's version, as CMake's project(VERSION) gives it ("0.1.0").
std::string version();

// The oneDNN library loaded at run time ("2.7.3"), which may differ from the headers built against.
std::string onednn_version();

// The instruction set oneDNN's CPU kernels use on this machine, in oneDNN's names ("avx2",
// "avx512_core_vnni", ...): the best the CPU has, capped by ONEDNN_MAX_CPU_ISA where that is set.
std::string onednn_cpu_isa();

}  // namespace convnet
