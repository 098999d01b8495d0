// Pure text formatting for the dashboard: numbers with units for people, bars, sparklines,
// truncation to a width. Unknown values (NaN) print as "--". No terminal, no state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tui/canvas.h"

namespace tui {

// A plain number with `decimals` digits, "--" if NaN.
std::string format_number(double v, int decimals);
// Loss values: 4 significant digits ("2.345", "0.01234"), "--" if NaN.
std::string format_loss(double v);
// "71.3°C" ("71.3C" in ASCII), "--" if NaN.
std::string format_temp(double temp_c, const Glyphs& g);
// Rates and counts for people: "1.73K", "12.0M", "950".
std::string format_rate(double per_s);
// Learning rates: "3.0e-04".
std::string format_lr(double lr);
// Local wall-clock time of day "14:03:27".
std::string format_clock(double wall_s);
// Percent "24.7%", "--" if NaN.
std::string format_percent(double fraction);

// Truncate UTF-8 text to `width` cells, ending in the ellipsis glyph when cut.
std::string fit(std::string_view text, int width, const Glyphs& g);
// Left-justify and pad with spaces to exactly `width` cells (truncating if longer).
std::string pad_right(std::string_view text, int width, const Glyphs& g);
std::string pad_left(std::string_view text, int width, const Glyphs& g);

// A horizontal bar `width` cells wide filled to `fraction` (clamped to [0, 1]). Unicode bars use
// eighth blocks for the partial cell.
std::string bar(double fraction, int width, const Glyphs& g);

// A one-line chart of the last values: `width` cells, each the mean of its bucket, scaled between
// the min and max of the shown values (a flat series draws at mid height). Unicode: ▁..█;
// ASCII: "_.:-=+*#". Fewer values than cells: right-aligned.
std::string sparkline(const std::vector<double>& values, int width, const Glyphs& g);

}  // namespace tui
