// Min/max bucket decimation and tails of series.
#include "tui/series.h"

#include <algorithm>
#include <cmath>

namespace tui {

void decimate_minmax(const std::vector<double>& x, const std::vector<double>& y, size_t max_points,
                     std::vector<double>& out_x, std::vector<double>& out_y) {
  out_x.clear();
  out_y.clear();
  size_t n = std::min(x.size(), y.size());
  if (n <= max_points || max_points < 4) {
    out_x.assign(x.begin(), x.begin() + n);
    out_y.assign(y.begin(), y.begin() + n);
    return;
  }
  size_t buckets = max_points / 2;
  out_x.reserve(buckets * 2);
  out_y.reserve(buckets * 2);
  for (size_t b = 0; b < buckets; ++b) {
    size_t begin = b * n / buckets, end = (b + 1) * n / buckets;
    size_t lo = end, hi = end;
    for (size_t i = begin; i < end; ++i) {
      if (std::isnan(y[i])) continue;
      if (lo == end || y[i] < y[lo]) lo = i;
      if (hi == end || y[i] > y[hi]) hi = i;
    }
    if (lo == end) {  // only NaN here: keep the gap
      out_x.push_back(x[begin]);
      out_y.push_back(y[begin]);
      continue;
    }
    size_t first = std::min(lo, hi), second = std::max(lo, hi);
    out_x.push_back(x[first]);
    out_y.push_back(y[first]);
    if (second != first) {
      out_x.push_back(x[second]);
      out_y.push_back(y[second]);
    }
  }
}

std::vector<double> tail(const std::vector<double>& values, size_t count) {
  size_t start = values.size() > count ? values.size() - count : 0;
  return std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(start), values.end());
}

}  // namespace tui
