// gen — how much host memory there is to use, and how much this process holds, as the
// kernel reports it: /proc/meminfo's MemAvailable, the memory cgroup's limit (v2
// memory.max / memory.current up the hierarchy, or v1 memory.limit_in_bytes), and
// /proc/self/status (VmRSS now, VmHWM the peak). No libtorch.
#pragma once

#include <cstdint>
#include <string>

namespace gen::core {

// The "MemAvailable:" line of /proc/meminfo text in bytes; -1 when absent.
std::int64_t meminfo_available(const std::string& meminfo);

// A memory cgroup's numbers: limit (-1: "max", none), usage, and the inactive file pages
// of its memory.stat (page cache the kernel reclaims before failing an allocation).
struct CgroupMemory {
  std::int64_t limit = -1;
  std::int64_t usage = 0;
  std::int64_t inactive_file = 0;
};
// What may still be allocated under that cgroup: limit − (usage − inactive_file); -1 with no limit.
std::int64_t cgroup_headroom(const CgroupMemory& c);

struct HostMemory {
  std::int64_t available = -1;  // bytes; -1 when nothing could be read
  std::string source;           // "MemAvailable" or "cgroup <path> limit"
};
// The smaller of MemAvailable and every enclosing memory cgroup's headroom.
HostMemory host_memory_available();

// This process's resident set now (VmRSS) and its peak (VmHWM) in bytes; -1 if unreadable.
std::int64_t process_rss_bytes();
std::int64_t process_peak_rss_bytes();

// "12.3 GiB" / "512 MiB" for messages.
std::string bytes_text(std::int64_t bytes);

}  // namespace gen::core
