// Numbers as the library's messages and reports write them, one definition each.
#pragma once

#include <cstdint>
#include <string>

namespace convnet {

// A count with thousands separators: "2,147,483,648", "-1,024".
std::string thousands_text(std::int64_t value);

// A real number as std::ostream writes it by default (six significant digits): "0.001", "1e-08".
std::string number_text(double value);

// A size in bytes in the largest binary unit it reaches: "1.25 TiB", "23.47 GiB" (two decimals
// from GiB on, so that a need just over a machine's memory does not read as equal to it),
// "40.1 MiB", "22.7 KiB", "512 bytes"; "more than 8 EiB" for INT64_MAX (a saturated sum).
std::string memory_text(std::int64_t bytes);

}  // namespace convnet
