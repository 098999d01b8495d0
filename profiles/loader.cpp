// Profile TOML parsing (toml++), validation, the compiled-in device table and name resolution.
#include "profiles/loader.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/toml/toml_fields.h"
#include "common/units.h"
#include "profiles/host.h"
#include "profiles/profiles_embedded.h"

namespace profiles {

using common::Result;
using common::Status;

namespace {

using common::tomlf::Fields;
using common::tomlf::where;

Status bad(const toml::node& n, const std::string& file, const std::string& msg) {
  return Status::InvalidArgument(where(n, file) + ": " + msg);
}

Status check_known_keys(const toml::table& t, std::initializer_list<const char*> known, const std::string& table,
                        const std::string& file) {
  for (auto&& [k, v] : t) {
    bool ok = std::any_of(known.begin(), known.end(), [&](const char* s) { return k.str() == s; });
    if (!ok) return bad(v, file, "unknown key '" + std::string(k.str()) + "' in " + table);
  }
  return Status::Ok();
}

// Sub-tables are optional except [memory]; each is checked for unknown keys.
const toml::table* sub_table(const toml::table& t, const char* key) { return t[key].as_table(); }

constexpr double kMaxMib = 16.0 * 1024 * 1024;  // 16 TiB: anything above is a typo

Status read_memory(const toml::table& root, const toml::table& m, MemoryProfile* out, const std::string& file) {
  NS_RETURN_IF_ERROR(check_known_keys(m, {"total_mib", "reservations"}, "[memory]", file));
  const Fields fields(m, file);
  double total_mib = 0;
  NS_RETURN_IF_ERROR(fields.number_in("total_mib", 1, kMaxMib, &total_mib, /*required=*/true));
  out->total_bytes = static_cast<uint64_t>(total_mib * common::kMiB);
  out->reservations.clear();
  if (const toml::node* rn = m.get("reservations")) {
    const toml::array* arr = rn->as_array();
    if (!arr) return bad(*rn, file, "'reservations' must be an array of {name, mib, note} tables");
    for (const toml::node& item : *arr) {
      const toml::table* r = item.as_table();
      if (!r) return bad(item, file, "each reservation is a table {name = \"...\", mib = N, note = \"...\"}");
      NS_RETURN_IF_ERROR(check_known_keys(*r, {"name", "mib", "note"}, "a reservation", file));
      const Fields rf(*r, file);
      MemoryReservation res;
      NS_RETURN_IF_ERROR(rf.string("name", &res.name));
      if (res.name.empty()) return bad(item, file, "a reservation needs a name");
      double mib = 0;
      NS_RETURN_IF_ERROR(rf.number_in("mib", 0, kMaxMib, &mib, true, &item));
      res.bytes = static_cast<uint64_t>(mib * common::kMiB);
      NS_RETURN_IF_ERROR(rf.string("note", &res.note));
      for (const MemoryReservation& other : out->reservations) {
        if (other.name == res.name) return bad(item, file, "reservation '" + res.name + "' appears twice");
      }
      out->reservations.push_back(std::move(res));
    }
  }
  if (out->reserved_bytes() >= out->total_bytes) {
    return bad(m, file, "the reservations (" + common::format_bytes(out->reserved_bytes()) +
                            ") leave nothing of total_mib (" + common::format_bytes(out->total_bytes) + ")");
  }
  (void)root;
  return Status::Ok();
}

Status read_compute(const toml::table& c, ComputeProfile* out, const std::string& file) {
  NS_RETURN_IF_ERROR(check_known_keys(c, {"cores", "performance_cores", "peak_gflops", "mem_bandwidth_gbs"},
                                      "[compute]", file));
  const Fields fields(c, file);
  NS_RETURN_IF_ERROR(fields.integer_in("cores", 1, 4096, &out->cores, true));
  NS_RETURN_IF_ERROR(fields.integer_in("performance_cores", 0, 4096, &out->performance_cores));
  if (out->performance_cores > out->cores) {
    return bad(*c.get("performance_cores"), file, "'performance_cores' exceeds 'cores'");
  }
  NS_RETURN_IF_ERROR(fields.number_in("peak_gflops", 0, 1e7, &out->peak_gflops));
  NS_RETURN_IF_ERROR(fields.number_in("mem_bandwidth_gbs", 0, 1e5, &out->mem_bandwidth_gbs));
  return Status::Ok();
}

Status read_storage(const toml::table& s, StorageProfile* out, const std::string& file) {
  NS_RETURN_IF_ERROR(check_known_keys(s, {"kind", "seq_read_mbs"}, "[storage]", file));
  const Fields fields(s, file);
  NS_RETURN_IF_ERROR(fields.string("kind", &out->kind));
  NS_RETURN_IF_ERROR(fields.number_in("seq_read_mbs", 0, 1e6, &out->seq_read_mbs));
  return Status::Ok();
}

Status read_thermal(const toml::table& t, ThermalProfile* out, const std::string& file) {
  NS_RETURN_IF_ERROR(check_known_keys(t, {"sensors", "fanless", "thresholds", "plant"}, "[thermal]", file));
  if (const toml::node* sn = t.get("sensors")) {
    const toml::array* arr = sn->as_array();
    if (!arr) return bad(*sn, file, "'sensors' must be an array of patterns such as \"coretemp*\"");
    out->sensors.clear();
    for (const toml::node& p : *arr) {
      if (!p.is_string() || p.value<std::string>()->empty()) {
        return bad(p, file, "each sensor pattern must be a non-empty string");
      }
      out->sensors.push_back(*p.value<std::string>());
    }
  }
  NS_RETURN_IF_ERROR(Fields(t, file).boolean("fanless", &out->fanless));
  constexpr double kLo = -40, kHi = 150;  // °C a silicon sensor can report
  if (const toml::table* th = sub_table(t, "thresholds")) {
    NS_RETURN_IF_ERROR(check_known_keys(
        *th, {"shrink_c", "pause_c", "stop_c", "resume_c", "hysteresis_c", "setpoint_c"}, "[thermal.thresholds]", file));
    ThermalThresholds& x = out->thresholds;
    const Fields tf(*th, file);
    NS_RETURN_IF_ERROR(tf.number_in("shrink_c", kLo, kHi, &x.shrink_c));
    NS_RETURN_IF_ERROR(tf.number_in("pause_c", kLo, kHi, &x.pause_c));
    NS_RETURN_IF_ERROR(tf.number_in("stop_c", kLo, kHi, &x.stop_c));
    NS_RETURN_IF_ERROR(tf.number_in("resume_c", kLo, kHi, &x.resume_c));
    NS_RETURN_IF_ERROR(tf.number_in("hysteresis_c", 0, 30, &x.hysteresis_c));
    NS_RETURN_IF_ERROR(tf.number_in("setpoint_c", kLo, kHi, &x.setpoint_c));
    if (!(x.shrink_c <= x.pause_c && x.pause_c <= x.stop_c)) {
      return bad(*th, file, "thresholds must be ordered shrink_c <= pause_c <= stop_c");
    }
    if (!(x.resume_c < x.stop_c)) return bad(*th, file, "resume_c must be below stop_c");
  }
  if (const toml::table* pl = sub_table(t, "plant")) {
    NS_RETURN_IF_ERROR(check_known_keys(
        *pl, {"ambient_c", "idle_rise_c", "steady_max_c", "tau_s", "noise_c", "throttle_c"}, "[thermal.plant]", file));
    ThermalPlant& p = out->plant;
    const Fields pf(*pl, file);
    NS_RETURN_IF_ERROR(pf.number_in("ambient_c", kLo, 60, &p.ambient_c));
    NS_RETURN_IF_ERROR(pf.number_in("idle_rise_c", 0, 100, &p.idle_rise_c));
    NS_RETURN_IF_ERROR(pf.number_in("steady_max_c", kLo, kHi, &p.steady_max_c));
    NS_RETURN_IF_ERROR(pf.number_in("tau_s", 0.1, 1e5, &p.tau_s));
    NS_RETURN_IF_ERROR(pf.number_in("noise_c", 0, 10, &p.noise_c));
    NS_RETURN_IF_ERROR(pf.number_in("throttle_c", 0, kHi, &p.throttle_c));
    if (p.steady_max_c < p.ambient_c + p.idle_rise_c) {
      return bad(*pl, file, "steady_max_c must be at least ambient_c + idle_rise_c");
    }
  }
  return Status::Ok();
}

}  // namespace

Result<HardwareProfile> parse_profile_toml(std::string_view text, const std::string& source_name) {
  HardwareProfile p;
  p.source = source_name;
  try {
    toml::table doc = toml::parse(text, source_name);
    NS_RETURN_IF_ERROR(check_known_keys(
        doc, {"name", "description", "kind", "memory", "compute", "storage", "thermal"}, "the profile", source_name));
    const Fields fields(doc, source_name);
    NS_RETURN_IF_ERROR(fields.string("name", &p.name));
    if (p.name.empty()) return Status::InvalidArgument(source_name + ": the profile needs name = \"...\"");
    NS_RETURN_IF_ERROR(fields.string("description", &p.description));
    NS_RETURN_IF_ERROR(fields.string("kind", &p.kind));
    const toml::table* m = sub_table(doc, "memory");
    if (!m) return Status::InvalidArgument(source_name + ": the profile needs a [memory] table with total_mib");
    NS_RETURN_IF_ERROR(read_memory(doc, *m, &p.memory, source_name));
    const toml::table* c = sub_table(doc, "compute");
    if (!c) return Status::InvalidArgument(source_name + ": the profile needs a [compute] table with cores");
    NS_RETURN_IF_ERROR(read_compute(*c, &p.compute, source_name));
    if (const toml::table* s = sub_table(doc, "storage")) NS_RETURN_IF_ERROR(read_storage(*s, &p.storage, source_name));
    if (const toml::table* t = sub_table(doc, "thermal")) NS_RETURN_IF_ERROR(read_thermal(*t, &p.thermal, source_name));
  } catch (const toml::parse_error& e) {
    return common::tomlf::parse_error(e, source_name);
  }
  return p;
}

Result<HardwareProfile> load_profile_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path + ": cannot open profile file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IOError(path + ": read error");
  return parse_profile_toml(ss.str(), path);
}

std::vector<std::string> builtin_profile_names() {
  std::vector<std::string> names;
  for (const EmbeddedProfile& p : embedded_profiles()) names.push_back(p.name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string known_profiles_list() {
  std::string out;
  for (const std::string& n : builtin_profile_names()) out += n + ", ";
  return out + "host";
}

Result<std::string> builtin_profile_text(const std::string& name) {
  for (const EmbeddedProfile& p : embedded_profiles()) {
    if (name == p.name) return std::string(p.toml);
  }
  return Status::NotFound("unknown profile '" + name + "' (known: " + known_profiles_list() + ")");
}

Result<HardwareProfile> builtin_profile(const std::string& name) {
  NS_ASSIGN_OR_RETURN(std::string text, builtin_profile_text(name));
  Result<HardwareProfile> p = parse_profile_toml(text, "profiles/devices/" + name + ".toml");
  if (p.ok()) p->source = "builtin:" + name;
  return p;
}

Result<HardwareProfile> find_profile(const std::string& name_or_path) {
  if (name_or_path == "host") return detect_host_profile();
  bool is_path = name_or_path.find('/') != std::string::npos ||
                 (name_or_path.size() > 5 && name_or_path.ends_with(".toml"));
  if (is_path) return load_profile_file(name_or_path);
  return builtin_profile(name_or_path);
}

}  // namespace profiles
