// Panel rectangles: fixed run panel and footer, the rest split between plots, the middle row
// (governor, memory, knobs) and the bottom row (throughput, events).
#include "tui/layout.h"

#include <algorithm>

namespace tui {

Layout compute_layout(int width, int height) {
  Layout l;
  if (width < kMinWidth || height < kMinHeight) {
    l.too_small = true;
    return l;
  }
  const int run_h = 4, footer_h = 1;
  const int rest = height - run_h - footer_h;            // 19 at 24 rows
  const int middle_h = rest >= 30 ? 7 : 6;
  const int plots_h = std::max(8, rest * 42 / 100);       // 8 at 24 rows, 14 at 40
  const int bottom_h = rest - plots_h - middle_h;         // >= 5
  int y = 0;
  l.run = {0, y, width, run_h};
  y += run_h;
  const int half = width / 2;
  l.loss = {0, y, half, plots_h};
  l.temperature = {half, y, width - half, plots_h};
  y += plots_h;
  const int gov_w = width * 3 / 8;
  const int mem_w = (width - gov_w) / 2;
  l.governor = {0, y, gov_w, middle_h};
  l.memory = {gov_w, y, mem_w, middle_h};
  l.knobs = {gov_w + mem_w, y, width - gov_w - mem_w, middle_h};
  y += middle_h;
  const int tput_w = width / 3;
  l.throughput = {0, y, tput_w, bottom_h};
  l.events = {tput_w, y, width - tput_w, bottom_h};
  y += bottom_h;
  l.footer = {0, y, width, footer_h};
  return l;
}

}  // namespace tui
