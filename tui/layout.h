// Where each dashboard panel goes for a given terminal size. 80x24 is the smallest layout that
// shows every panel; larger terminals give the extra rows to the plots and the event list and the
// extra columns to every panel proportionally. Pure arithmetic, unit-tested.
#pragma once

#include "tui/canvas.h"

namespace tui {

inline constexpr int kMinWidth = 80;
inline constexpr int kMinHeight = 24;

struct Layout {
  bool too_small = false;  // below 80x24: only a message is drawn
  Rect run;                // run and progress (full width, top)
  Rect loss, temperature;  // the two plots side by side
  Rect governor, memory, knobs;
  Rect throughput, events;
  Rect footer;             // one line of keys and messages (bottom)
};

Layout compute_layout(int width, int height);

}  // namespace tui
