// Reading's named constructors (the interface itself is header-only).
#include "thermal/sensor_source.h"

#include <cmath>
#include <utility>

namespace thermal {

Reading Reading::value(double temp_c, std::optional<double> max_c, std::optional<double> crit_c) {
  Reading r;
  r.ok = true;
  r.temp_c = temp_c;
  r.max_c = max_c;
  r.crit_c = crit_c;
  return r;
}

Reading Reading::failure(std::string error) {
  Reading r;
  r.ok = false;
  r.temp_c = std::nan("");
  r.error = std::move(error);
  return r;
}

}  // namespace thermal
