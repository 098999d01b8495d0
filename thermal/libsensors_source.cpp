// libsensors wrapper: the one file that includes <sensors/sensors.h>. Owns the process-wide
// library session (init, reload, hooks) and the enumeration of temperature features.
// A libsensors fatal error (only out-of-memory in practice) longjmps back to the guarded call,
// which marks the library unusable instead of letting it exit the process.
#include "thermal/libsensors_source.h"

#include <sensors/error.h>
#include <sensors/sensors.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/log.h"

namespace thermal {
namespace {

// ---- the library session (global, like libsensors itself) ----

struct Session {
  bool initialized = false;
  bool broken = false;          // a fatal error happened: never call libsensors again
  std::string broken_message;
  int generation = 0;           // bumped on every (re)init: cached chip pointers are stale
};
Session g_session;

std::jmp_buf* g_fatal_jump = nullptr;
char g_fatal_message[256];

void on_parse_error_wfn(const char* err, const char* filename, int lineno) {
  common::log_warning(fmt::format("sensors config {}:{}: {}", filename ? filename : "(unknown)", lineno,
                                  err ? err : "parse error"));
}
void on_parse_error(const char* err, int lineno) { on_parse_error_wfn(err, nullptr, lineno); }
[[noreturn]] void on_fatal_error(const char* proc, const char* err) {
  std::snprintf(g_fatal_message, sizeof g_fatal_message, "libsensors fatal error in %s: %s",
                proc ? proc : "?", err ? err : "?");
  if (g_fatal_jump != nullptr) std::longjmp(*g_fatal_jump, 1);
  // Not reachable: every libsensors call goes through guarded(). Abort rather than return.
  std::abort();
}

void install_hooks() {
  sensors_parse_error = on_parse_error;
  sensors_parse_error_wfn = on_parse_error_wfn;
  sensors_fatal_error = on_fatal_error;
}

// Runs `fn` (which calls libsensors) so that a fatal error returns false instead of exiting.
// `fn` must not hold objects with destructors while it calls libsensors (longjmp skips them).
template <typename Fn>
bool guarded(Fn&& fn) {
  std::jmp_buf env;
  std::jmp_buf* previous = g_fatal_jump;
  g_fatal_jump = &env;
  if (setjmp(env) != 0) {
    g_fatal_jump = previous;
    g_session.broken = true;
    g_session.broken_message = g_fatal_message;
    g_session.initialized = false;  // its state is unknown; do not even clean it up
    return false;
  }
  fn();
  g_fatal_jump = previous;
  return true;
}

common::Status broken_status() {
  return common::Status::Unavailable(g_session.broken_message);
}

// sensors_init with the system configuration; when that fails (a broken sensors3.conf), again
// with no configuration, so the raw sysfs values are still available.
common::Status init_session() {
  if (g_session.broken) return broken_status();
  if (g_session.initialized) return common::Status::Ok();
  install_hooks();
  int rc = 0;
  bool ok = guarded([&] { rc = sensors_init(nullptr); });
  if (!ok) return broken_status();
  if (rc != 0) {
    common::log_warning(fmt::format("libsensors: the system configuration failed to load ({}); "
                                    "using raw sensor values", sensors_strerror(rc)));
    std::FILE* empty = std::fopen("/dev/null", "r");
    if (empty == nullptr) return common::Status::Unavailable("libsensors: cannot open /dev/null");
    ok = guarded([&] {
      sensors_cleanup();
      rc = sensors_init(empty);
    });
    std::fclose(empty);
    if (!ok) return broken_status();
    if (rc != 0) {
      guarded([] { sensors_cleanup(); });
      return common::Status::Unavailable(fmt::format("libsensors: sensors_init failed: {}", sensors_strerror(rc)));
    }
  }
  g_session.initialized = true;
  ++g_session.generation;
  return common::Status::Ok();
}

common::Status reload_session() {
  if (g_session.broken) return broken_status();
  if (g_session.initialized) {
    if (!guarded([] { sensors_cleanup(); })) return broken_status();
    g_session.initialized = false;
  }
  return init_session();
}

// ---- enumeration: plain data gathered inside the guard ----

struct RawTemp {
  const sensors_chip_name* chip = nullptr;
  char chip_name[128] = {0};
  char feature[64] = {0};
  char* label = nullptr;              // malloc'd by libsensors; freed by free_labels()
  const char* adapter = nullptr;      // libsensors' static string, or null
  int input_nr = -1, max_nr = -1, crit_nr = -1, fault_nr = -1;
};

void free_labels(std::vector<RawTemp>& raws) {
  for (RawTemp& r : raws) {
    std::free(r.label);
    r.label = nullptr;
  }
}

// Fills `out` with every temperature feature. `out` must be reserved: push_back happens between
// libsensors calls, never during one.
common::Status enumerate(std::vector<RawTemp>& out) {
  NS_RETURN_IF_ERROR(init_session());
  bool ok = guarded([&] {
    int chip_nr = 0;
    const sensors_chip_name* chip;
    while ((chip = sensors_get_detected_chips(nullptr, &chip_nr)) != nullptr) {
      int feature_nr = 0;
      const sensors_feature* feature;
      while ((feature = sensors_get_features(chip, &feature_nr)) != nullptr) {
        if (feature->type != SENSORS_FEATURE_TEMP) continue;
        const sensors_subfeature* input = sensors_get_subfeature(chip, feature, SENSORS_SUBFEATURE_TEMP_INPUT);
        if (input == nullptr) continue;
        RawTemp raw;
        raw.chip = chip;
        if (sensors_snprintf_chip_name(raw.chip_name, sizeof raw.chip_name, chip) < 0) {
          std::snprintf(raw.chip_name, sizeof raw.chip_name, "%s", chip->prefix ? chip->prefix : "?");
        }
        std::snprintf(raw.feature, sizeof raw.feature, "%s", feature->name ? feature->name : "?");
        raw.label = sensors_get_label(chip, feature);
        raw.adapter = sensors_get_adapter_name(&chip->bus);
        raw.input_nr = input->number;
        const sensors_subfeature* sf = sensors_get_subfeature(chip, feature, SENSORS_SUBFEATURE_TEMP_MAX);
        if (sf != nullptr) raw.max_nr = sf->number;
        sf = sensors_get_subfeature(chip, feature, SENSORS_SUBFEATURE_TEMP_CRIT);
        if (sf != nullptr) raw.crit_nr = sf->number;
        sf = sensors_get_subfeature(chip, feature, SENSORS_SUBFEATURE_TEMP_FAULT);
        if (sf != nullptr) raw.fault_nr = sf->number;
        if (out.size() == out.capacity()) return;  // more features than reserved: keep what fits
        out.push_back(raw);
      }
    }
  });
  if (!ok) return broken_status();
  return common::Status::Ok();
}

constexpr size_t kMaxFeatures = 512;

// Reads one subfeature. Returns 0 or a negative SENSORS_ERR_* code.
int read_value(const sensors_chip_name* chip, int nr, double* value) {
  int rc = -SENSORS_ERR_NO_ENTRY;
  if (!guarded([&] { rc = sensors_get_value(chip, nr, value); })) return -SENSORS_ERR_KERNEL;
  return rc;
}

std::optional<double> read_optional(const sensors_chip_name* chip, int nr) {
  if (nr < 0) return std::nullopt;
  double v = 0;
  if (read_value(chip, nr, &v) != 0) return std::nullopt;
  return v;
}

// The input of a feature, checking its fault flag first. Empty error string on success.
std::string read_input(const RawTemp& raw, double* temp_c) {
  if (raw.fault_nr >= 0) {
    double fault = 0;
    if (read_value(raw.chip, raw.fault_nr, &fault) == 0 && fault != 0) return "sensor reports a fault";
  }
  int rc = read_value(raw.chip, raw.input_nr, temp_c);
  if (rc != 0) return sensors_strerror(rc);
  return "";
}

SensorInfo to_info(const RawTemp& raw) {
  SensorInfo info;
  info.chip = raw.chip_name;
  info.chip_prefix = raw.chip->prefix ? raw.chip->prefix : "";
  info.adapter = raw.adapter ? raw.adapter : "";
  info.feature = raw.feature;
  info.label = raw.label ? raw.label : raw.feature;
  double v = 0;
  std::string err = read_input(raw, &v);
  if (err.empty()) {
    info.temp_c = v;
  } else {
    info.error = err;
  }
  info.max_c = read_optional(raw.chip, raw.max_nr);
  info.crit_c = read_optional(raw.chip, raw.crit_nr);
  return info;
}

}  // namespace

common::Result<std::vector<SensorInfo>> list_temperature_sensors() {
  std::vector<RawTemp> raws;
  raws.reserve(kMaxFeatures);
  common::Status s = enumerate(raws);
  if (!s.ok()) {
    free_labels(raws);
    return s;
  }
  std::vector<SensorInfo> out;
  out.reserve(raws.size());
  for (const RawTemp& raw : raws) out.push_back(to_info(raw));
  free_labels(raws);
  return out;
}

// The chosen sensor's libsensors coordinates, valid for one session generation.
struct LibsensorsSource::Handle {
  int generation = -1;
  RawTemp raw;  // label is not kept (freed right after lookup)
};

LibsensorsSource::LibsensorsSource(SensorInfo info) : info_(std::move(info)) {}
LibsensorsSource::~LibsensorsSource() = default;

common::Result<std::unique_ptr<LibsensorsSource>> LibsensorsSource::open(const std::vector<std::string>& patterns) {
  NS_ASSIGN_OR_RETURN(std::vector<SensorInfo> sensors, list_temperature_sensors());
  NS_ASSIGN_OR_RETURN(size_t index, choose_sensor(sensors, patterns));
  return std::unique_ptr<LibsensorsSource>(new LibsensorsSource(sensors[index]));
}

std::string LibsensorsSource::describe() const { return "libsensors " + info_.id(); }

Reading LibsensorsSource::read() {
  // Looks the sensor up by chip name + label in the current session.
  auto resolve = [this]() -> bool {
    std::vector<RawTemp> raws;
    raws.reserve(kMaxFeatures);
    if (!enumerate(raws).ok()) {
      free_labels(raws);
      return false;
    }
    bool found = false;
    for (RawTemp& raw : raws) {
      std::string label = raw.label ? raw.label : raw.feature;
      if (info_.chip == raw.chip_name && info_.label == label) {
        if (!handle_) handle_ = std::make_unique<Handle>();
        handle_->raw = raw;
        handle_->raw.label = nullptr;
        handle_->generation = g_session.generation;
        found = true;
        break;
      }
    }
    free_labels(raws);
    return found;
  };

  auto attempt = [&](std::string* error) -> std::optional<Reading> {
    if (g_session.broken) {
      *error = g_session.broken_message;
      return std::nullopt;
    }
    if (!handle_ || handle_->generation != g_session.generation || !g_session.initialized) {
      if (!resolve()) {
        *error = g_session.broken ? g_session.broken_message : "sensor not found (it disappeared)";
        return std::nullopt;
      }
    }
    double temp_c = 0;
    std::string err = read_input(handle_->raw, &temp_c);
    if (!err.empty()) {
      *error = err;
      return std::nullopt;
    }
    return Reading::value(temp_c, read_optional(handle_->raw.chip, handle_->raw.max_nr),
                          read_optional(handle_->raw.chip, handle_->raw.crit_nr));
  };

  std::string error;
  if (std::optional<Reading> r = attempt(&error)) return *r;
  // Once more after a reload: the chip may have been re-registered under another hwmon number.
  if (!g_session.broken && reload_session().ok()) {
    if (std::optional<Reading> r = attempt(&error)) return *r;
  }
  return Reading::failure(info_.id() + ": " + error);
}

}  // namespace thermal
