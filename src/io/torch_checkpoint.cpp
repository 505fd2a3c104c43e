// torch.save checkpoints: archive layout, the flattening rule (see the header) and
// tensor bytes.
#include "io/torch_checkpoint.hpp"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "core/fail.hpp"
#include "core/files.hpp"
#include "io/pickle_reader.hpp"
#include "io/torch_pickle_hooks.hpp"

namespace gen::io {

using pickle::Kind;
using pickle::Value;

std::uint64_t TorchTensor::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::int64_t s : shape) n *= static_cast<std::uint64_t>(s);
  return n;
}

std::uint64_t TorchTensor::nbytes() const noexcept { return numel() * torchpk::element_size(dtype); }

bool TorchTensor::contiguous() const noexcept {
  std::int64_t expected = 1;
  for (std::size_t d = shape.size(); d-- > 0;) {
    if (shape[d] == 0) return true;
    if (shape[d] != 1 && stride[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

namespace {

// "params_ema" before "params": BasicSR saves both, and the EMA weights are the ones to run
// (spandrel's and BasicSR's own choice for inference).
const char* const kWrapperKeys[] = {"state_dict", "model_state_dict", "module", "model", "params_ema", "params"};
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxVisits = 1u << 22;
// Containers the pickle holds more than once (through DUP or the memo) are walked once
// per path: nested, 2^n paths from 2n bytes. A tree needs a few bytes a node, so the
// walk may visit at most 16 nodes and build 64 bytes of names per byte of pickle.
constexpr std::uint64_t kVisitsPerByte = 16, kNameBytesPerByte = 64;
// Non-contiguous tensors are copied out (torch_tensor_bytes): together at most the
// archive's size plus this (expanded or repeated views of one storage are bombs).
constexpr std::uint64_t kMaxGatherExtra = 64ull << 20;
// All tensors together (what `gen convert` writes): at most twice the archive's size plus
// 64 MiB. Tied weights (two names, one storage) fit; ten thousand names for one storage do not.
constexpr std::uint64_t kMaxTotalFactor = 2;

class Flattener {
 public:
  Flattener(const std::string& subject, const torchpk::TorchHooks& hooks, TorchCheckpoint& out,
            std::uint64_t pickle_size)
      : subject_(subject), hooks_(hooks), out_(out),
        max_visits_(std::min<std::uint64_t>(kMaxVisits, kVisitsPerByte * pickle_size + 4096)),
        max_name_bytes_(kNameBytesPerByte * pickle_size + (1u << 20)) {}

  void walk(const Value* v, const std::string& name, int depth) {
    visit(depth);
    name_bytes_ += name.size();
    if (name_bytes_ > max_name_bytes_)
      fail(ErrorCode::InvalidFormat, subject_,
           "the checkpoint's names add up to more than " + std::to_string(max_name_bytes_) +
               " bytes (its containers repeat one another)");
    switch (v->kind) {
      case Kind::Tensor: add_tensor(v, name); return;
      case Kind::Dict:
      case Kind::List:
      case Kind::Tuple:
        if (!name.empty() && !has_tensor(v, depth)) {
          drop(name, pickle::describe(v) + (v->items.empty() ? "" : " (no tensors)"));
          return;
        }
        if (v->kind == Kind::Dict) {
          for (std::size_t k = 0; k + 1 < v->items.size(); k += 2) {
            std::string key;
            if (!key_text(v->items[k], key)) {
              drop(name.empty() ? "<" + pickle::describe(v->items[k]) + ">" : name + ".<" + pickle::describe(v->items[k]) + ">",
                   pickle::describe(v->items[k + 1]) + " under a non-string key");
              continue;
            }
            walk(v->items[k + 1], name.empty() ? key : name + "." + key, depth + 1);
          }
        } else {
          for (std::size_t k = 0; k < v->items.size(); ++k)
            walk(v->items[k], name.empty() ? std::to_string(k) : name + "." + std::to_string(k), depth + 1);
        }
        return;
      case Kind::Storage: drop(name, "a bare storage (not a tensor)"); return;
      default: drop(name, pickle::describe(v)); return;
    }
  }

  bool has_tensor(const Value* v, int depth) {
    visit(depth);
    if (v->kind == Kind::Tensor) return true;
    if (v->kind != Kind::Dict && v->kind != Kind::List && v->kind != Kind::Tuple) return false;
    auto it = memo_.find(v);
    if (it != memo_.end()) return it->second;
    memo_[v] = false;  // a cycle reaches no new tensor
    bool found = false;
    for (std::size_t k = v->kind == Kind::Dict ? 1 : 0; k < v->items.size() && !found;
         k += v->kind == Kind::Dict ? 2 : 1)
      found = has_tensor(v->items[k], depth + 1);
    memo_[v] = found;
    return found;
  }

  void drop(const std::string& name, const std::string& what) { out_.dropped.push_back({name, what}); }

 private:
  void visit(int depth) {
    if (depth > kMaxDepth) fail(ErrorCode::InvalidFormat, subject_, "the checkpoint nests containers too deeply");
    if (++visits_ > max_visits_) fail(ErrorCode::InvalidFormat, subject_, "the checkpoint's containers refer to each other too many times");
  }

  static bool key_text(const Value* k, std::string& out) {
    if (k->kind == Kind::Str) out = k->s;
    else if (k->kind == Kind::Int) out = std::to_string(k->i);
    else return false;
    return !out.empty();
  }

  void add_tensor(const Value* v, const std::string& name) {
    if (name.empty()) fail(ErrorCode::Unsupported, subject_, "the checkpoint holds a single unnamed tensor, not a dict of tensors");
    if (!names_.insert(name).second)
      fail(ErrorCode::InvalidFormat, subject_, "two tensors are both named '" + name + "' once nested keys are joined with '.'");
    const torchpk::TensorRef& r = hooks_.tensors().at(static_cast<std::size_t>(v->i));
    const torchpk::StorageRef& s = hooks_.storages().at(r.storage);
    TorchTensor t;
    t.name = name;
    t.dtype = r.dtype;
    t.shape = r.shape;
    t.stride = r.stride;
    t.offset = r.offset;
    t.entry = s.entry;
    t.storage_key = s.key;
    if (!t.contiguous()) {
      const std::uint64_t limit = out_.zip->file_size() + kMaxGatherExtra;
      if (__builtin_add_overflow(gathered_, t.nbytes(), &gathered_) || gathered_ > limit)
        fail(ErrorCode::Unsupported, subject_,
             "tensor '" + name + "' would bring the bytes copied out of non-contiguous views past " +
                 std::to_string(limit) + " (the file's size plus 64 MiB): its views expand or "
                 "repeat their storages");
    }
    const std::uint64_t total_limit = kMaxTotalFactor * out_.zip->file_size() + kMaxGatherExtra;
    if (__builtin_add_overflow(total_, t.nbytes(), &total_) || total_ > total_limit)
      fail(ErrorCode::Unsupported, subject_,
           "tensor '" + name + "' would bring the checkpoint's tensors past " + std::to_string(total_limit) +
               " bytes (twice the file's size plus 64 MiB): its tensors repeat the storages the file holds");
    out_.tensors.push_back(std::move(t));
  }

  const std::string& subject_;
  const torchpk::TorchHooks& hooks_;
  TorchCheckpoint& out_;
  std::unordered_map<const Value*, bool> memo_;
  std::unordered_set<std::string> names_;
  const std::uint64_t max_visits_, max_name_bytes_;
  std::uint64_t visits_ = 0, name_bytes_ = 0, gathered_ = 0, total_ = 0;
};

// The 14 bytes a legacy torch.save stream starts with: PROTO 2, then LONG1 of the
// magic number 0x1950a86a20f9469cfc6c.
const std::uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                     0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

// Not a ZIP archive: explain what it is. Pickle streams are scanned (never run) so
// that a hostile one is reported as such before the format is refused.
std::vector<std::uint8_t> read_prefix(const std::string& path, std::size_t max_bytes) {
  const std::string head = core::read_head(path, max_bytes);
  return {head.begin(), head.end()};
}

[[noreturn]] void refuse_non_zip(const std::string& path) {
  pickle::PickleLimits limits;
  // At most what the pickle scan may look at.
  const std::vector<std::uint8_t> bytes = read_prefix(path, limits.max_bytes);
  const std::vector<std::uint8_t> head(bytes.begin(), bytes.begin() + std::min<std::size_t>(16, bytes.size()));
  const bool legacy = head.size() >= sizeof kLegacyMagic &&
                      std::memcmp(head.data(), kLegacyMagic, sizeof kLegacyMagic) == 0;
  const bool pickle_like = !head.empty() && head[0] == 0x80;
  if (!legacy && !pickle_like)
    fail(ErrorCode::InvalidFormat, path, "not a torch.save checkpoint (no ZIP signature, not a pickle)");
  // Scan the pickles: up to 4 for the legacy layout (magic, protocol, system info, object).
  torchpk::TorchHooks hooks(path, nullptr, "");
  std::size_t pos = 0;
  for (int k = 0; k < (legacy ? 4 : 1) && pos < bytes.size(); ++k) {
    pickle::Arena arena;
    std::size_t used = 0;
    try {
      pickle::run_pickle(bytes.data() + pos, bytes.size() - pos, arena, hooks, path,
                         "pickle " + std::to_string(k), limits, &used);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::UnsafeContent) throw;
      break;  // the format is refused below anyway
    }
    pos += used;
  }
  if (legacy)
    fail(ErrorCode::Unsupported, path,
         "this is the legacy torch.save format (PyTorch < 1.6, or _use_new_zipfile_serialization=False), "
         "which gen does not read; re-save it in the zip format: "
         "torch.save(torch.load(path, weights_only=True), new_path)");
  fail(ErrorCode::Unsupported, path,
       "a bare pickle stream, not a torch.save zip archive; re-save it with torch.save(obj, path)");
}

}  // namespace

TorchCheckpoint read_torch_checkpoint(const std::string& path) {
  {
    const std::vector<std::uint8_t> sig = read_prefix(path, 4);  // NotFound, not a regular file, ...
    if (sig.size() == 4 && !ZipReader::has_signature(sig.data(), 4)) refuse_non_zip(path);
  }
  auto zip = std::make_shared<ZipReader>(ZipReader::open(path));  // NotFound / Io / InvalidFormat
  return read_torch_checkpoint(std::move(zip));
}

TorchCheckpoint read_torch_checkpoint(std::shared_ptr<const ZipReader> zip) {
  const std::string& subject = zip->path();
  if (zip->entries().empty()) fail(ErrorCode::InvalidFormat, subject, "the archive is empty");
  const std::string& first = zip->entries().front().name;
  const std::size_t slash = first.find('/');
  if (slash == std::string::npos || slash == 0)
    fail(ErrorCode::InvalidFormat, subject, "not a torch.save archive (its entries are not in a top folder)");
  const std::string prefix = first.substr(0, slash + 1);
  const ZipEntry* pkl = zip->find(prefix + "data.pkl");
  if (pkl == nullptr)
    fail(ErrorCode::InvalidFormat, subject, "not a torch.save archive (no '" + prefix + "data.pkl' entry)");
  if (const ZipEntry* order = zip->find(prefix + "byteorder")) {
    const std::uint8_t* d = zip->data(*order);
    const std::string text(reinterpret_cast<const char*>(d), static_cast<std::size_t>(std::min<std::uint64_t>(order->size, 16)));
    if (text != "little")
      fail(ErrorCode::Unsupported, subject, "the checkpoint was saved with byte order '" + text + "'; gen reads little-endian data only");
  }
  zip->verify_crc(*pkl);
  const std::uint8_t* bytes = zip->data(*pkl);

  torchpk::TorchHooks hooks(subject, zip.get(), prefix);
  pickle::Arena arena;
  const Value* root = pickle::run_pickle(bytes, static_cast<std::size_t>(pkl->size), arena, hooks, subject, pkl->name);

  TorchCheckpoint out;
  out.path = subject;
  out.zip = zip;
  if (root->kind != Kind::Dict)
    fail(ErrorCode::Unsupported, subject,
         "the checkpoint holds " + (root->kind == Kind::Tensor ? std::string("a single unnamed tensor") : "a " + pickle::describe(root)) +
             ", not a dict of named tensors");
  Flattener flat(subject, hooks, out, pkl->size);
  const Value* state = root;
  bool direct = false;
  for (std::size_t k = 1; k < root->items.size(); k += 2)
    if (root->items[k]->kind == Kind::Tensor) direct = true;
  if (!direct) {
    for (const char* key : kWrapperKeys) {
      const Value* v = pickle::dict_get(root, key);
      if (v != nullptr && v->kind == Kind::Dict) {
        state = v;
        out.root = key;
        break;
      }
    }
  }
  if (state != root) {  // report what is left beside the state dict
    for (std::size_t k = 0; k + 1 < root->items.size(); k += 2) {
      const Value* key = root->items[k];
      if (key->kind == Kind::Str && key->s == out.root) continue;
      const Value* v = root->items[k + 1];
      const std::string name = key->kind == Kind::Str ? key->s : "<" + pickle::describe(key) + ">";
      std::string what = pickle::describe(v);
      if (v->kind == Kind::Tensor) what = "tensor (outside '" + out.root + "')";
      else if (flat.has_tensor(v, 1)) what += " (with tensors, outside '" + out.root + "')";
      flat.drop(name, what);
    }
  }
  flat.walk(state, "", 0);
  return out;
}

const std::uint8_t* torch_tensor_bytes(const TorchCheckpoint& ckpt, const TorchTensor& t,
                                       std::vector<std::uint8_t>& scratch) {
  const ZipEntry& e = ckpt.zip->entries().at(t.entry);
  const std::uint8_t* base = ckpt.zip->data(e);
  const std::size_t es = torchpk::element_size(t.dtype);
  const std::uint64_t n = t.numel();
  if (n == 0) return base;
  if (t.contiguous()) return base + t.offset * es;  // bounds checked when the tensor was read
  scratch.resize(static_cast<std::size_t>(n * es));
  const std::size_t nd = t.shape.size();
  std::vector<std::int64_t> idx(nd, 0);
  std::uint64_t src = t.offset;  // element index in the storage
  std::uint8_t* dst = scratch.data();
  for (std::uint64_t k = 0; k < n; ++k) {
    std::memcpy(dst, base + src * es, es);
    dst += es;
    for (std::size_t d = nd; d-- > 0;) {  // odometer: advance the last dimension first
      if (++idx[d] < t.shape[d]) {
        src += static_cast<std::uint64_t>(t.stride[d]);
        break;
      }
      src -= static_cast<std::uint64_t>(t.stride[d]) * static_cast<std::uint64_t>(t.shape[d] - 1);
      idx[d] = 0;
    }
  }
  return scratch.data();
}

void verify_torch_storages(const TorchCheckpoint& ckpt) {
  std::set<std::size_t> done;
  for (const TorchTensor& t : ckpt.tensors)
    if (done.insert(t.entry).second) ckpt.zip->verify_crc(ckpt.zip->entries().at(t.entry));
}

}  // namespace gen::io
