// Reducing long series for a snapshot: producers of DashboardModel keep full histories and hand
// the dashboard at most a few thousand points, keeping each bucket's min and max so spikes stay
// visible. Pure functions.
#pragma once

#include <cstddef>
#include <vector>

namespace tui {

// Reduce (x, y) to at most `max_points` points (>= 4): the series is cut into max_points/2
// buckets and each bucket contributes its min and max y, in x order. Shorter series are copied.
// NaN y values are kept only when a bucket has nothing else.
void decimate_minmax(const std::vector<double>& x, const std::vector<double>& y, size_t max_points,
                     std::vector<double>& out_x, std::vector<double>& out_y);

// The last `count` values (all of them if fewer).
std::vector<double> tail(const std::vector<double>& values, size_t count);

}  // namespace tui
