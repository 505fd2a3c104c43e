#include "core/memory_info.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace gen::core {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return {};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The value (in kB, as /proc writes it) of the line starting with `key` in `text`; -1 if absent.
std::int64_t kb_field(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0) {
      long long kb = -1;
      if (std::sscanf(line.c_str() + key.size(), "%lld", &kb) == 1 && kb >= 0) return kb * 1024;
      return -1;
    }
  return -1;
}

// A number file of a cgroup ("max" and unreadable: -1).
std::int64_t number_file(const std::string& path) {
  const auto text = slurp(path);
  long long v = -1;
  if (text.empty() || text.rfind("max", 0) == 0 || std::sscanf(text.c_str(), "%lld", &v) != 1) return -1;
  return v;
}

std::int64_t stat_field(const std::string& stat, const std::string& key) {
  std::istringstream in(stat);
  std::string name;
  long long v = 0;
  while (in >> name >> v)
    if (name == key) return v;
  return 0;
}

}  // namespace

std::int64_t meminfo_available(const std::string& meminfo) { return kb_field(meminfo, "MemAvailable:"); }

std::int64_t cgroup_headroom(const CgroupMemory& c) {
  if (c.limit < 0) return -1;
  const auto used = std::max<std::int64_t>(0, c.usage - c.inactive_file);
  return std::max<std::int64_t>(0, c.limit - used);
}

HostMemory host_memory_available() {
  HostMemory m;
  m.available = meminfo_available(slurp("/proc/meminfo"));
  if (m.available >= 0) m.source = "MemAvailable";
  auto consider = [&](std::int64_t headroom, const std::string& where) {
    if (headroom >= 0 && (m.available < 0 || headroom < m.available)) {
      m.available = headroom;
      m.source = "the memory cgroup " + where + "'s limit";
    }
  };
  // cgroup v2: "0::/path" in /proc/self/cgroup; every ancestor's limit applies too.
  std::istringstream groups(slurp("/proc/self/cgroup"));
  std::string line;
  while (std::getline(groups, line)) {
    if (line.rfind("0::", 0) == 0) {
      std::string path = line.substr(3);
      while (true) {
        const std::string dir = "/sys/fs/cgroup" + (path == "/" ? std::string() : path);
        CgroupMemory c;
        c.limit = number_file(dir + "/memory.max");
        if (c.limit >= 0) {
          c.usage = std::max<std::int64_t>(0, number_file(dir + "/memory.current"));
          c.inactive_file = stat_field(slurp(dir + "/memory.stat"), "inactive_file");
          consider(cgroup_headroom(c), path);
        }
        if (path.empty() || path == "/") break;
        const auto slash = path.rfind('/');
        path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
      }
    }
  }
  // cgroup v1 (the process's own memory controller, mounted at the usual place).
  CgroupMemory v1;
  v1.limit = number_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (v1.limit >= 0 && v1.limit < (std::int64_t{1} << 60)) {  // "unlimited" is a huge number
    v1.usage = std::max<std::int64_t>(0, number_file("/sys/fs/cgroup/memory/memory.usage_in_bytes"));
    v1.inactive_file = stat_field(slurp("/sys/fs/cgroup/memory/memory.stat"), "total_inactive_file");
    consider(cgroup_headroom(v1), "(v1)");
  }
  return m;
}

std::int64_t process_rss_bytes() { return kb_field(slurp("/proc/self/status"), "VmRSS:"); }
std::int64_t process_peak_rss_bytes() { return kb_field(slurp("/proc/self/status"), "VmHWM:"); }

std::string bytes_text(std::int64_t bytes) {
  char buf[32];
  const double gib = static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0);
  if (gib >= 1.0)
    std::snprintf(buf, sizeof buf, "%.1f GiB", gib);
  else
    std::snprintf(buf, sizeof buf, "%.0f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

}  // namespace gen::core
