// The allow-list for torch.save pickles: which globals stand for which plain value,
// and how tensors are rebuilt from storages (as descriptions, never executed).
#include "io/torch_pickle_hooks.hpp"

#include <cstring>
#include <map>

#include "core/fail.hpp"

namespace gen::io {
namespace torchpk {

using pickle::Arena;
using pickle::Kind;
using pickle::Value;

namespace {

enum Tag : std::int64_t {
  kOrderedDict = 1,
  kRebuildV2,
  kRebuildV3,
  kParameter,
  kParameterWithState,
  kSize,
  kEncode,
  kStorageType,  // a typed or untyped storage class
  kDTypeValue,   // a torch.dtype
};

struct Allowed {
  Tag tag;
  DType dtype;  // for storage types and dtypes
  bool untyped;
};

const std::map<std::string, Allowed>& allow_list() {
  static const std::map<std::string, Allowed> list = {
      {"collections.OrderedDict", {kOrderedDict, DType::U8, false}},
      {"torch._utils._rebuild_tensor_v2", {kRebuildV2, DType::U8, false}},
      {"torch._utils._rebuild_tensor_v3", {kRebuildV3, DType::U8, false}},
      {"torch._utils._rebuild_parameter", {kParameter, DType::U8, false}},
      {"torch._utils._rebuild_parameter_with_state", {kParameterWithState, DType::U8, false}},
      {"torch.Size", {kSize, DType::U8, false}},
      {"_codecs.encode", {kEncode, DType::U8, false}},
      {"torch.FloatStorage", {kStorageType, DType::F32, false}},
      {"torch.HalfStorage", {kStorageType, DType::F16, false}},
      {"torch.BFloat16Storage", {kStorageType, DType::BF16, false}},
      {"torch.DoubleStorage", {kStorageType, DType::F64, false}},
      {"torch.LongStorage", {kStorageType, DType::I64, false}},
      {"torch.IntStorage", {kStorageType, DType::I32, false}},
      {"torch.ShortStorage", {kStorageType, DType::I16, false}},
      {"torch.CharStorage", {kStorageType, DType::I8, false}},
      {"torch.ByteStorage", {kStorageType, DType::U8, false}},
      {"torch.BoolStorage", {kStorageType, DType::BOOL, false}},
      {"torch.storage.UntypedStorage", {kStorageType, DType::U8, true}},
      {"torch.UntypedStorage", {kStorageType, DType::U8, true}},
      {"torch.float32", {kDTypeValue, DType::F32, false}},
      {"torch.float16", {kDTypeValue, DType::F16, false}},
      {"torch.bfloat16", {kDTypeValue, DType::BF16, false}},
      {"torch.float64", {kDTypeValue, DType::F64, false}},
      {"torch.int64", {kDTypeValue, DType::I64, false}},
      {"torch.int32", {kDTypeValue, DType::I32, false}},
      {"torch.int16", {kDTypeValue, DType::I16, false}},
      {"torch.int8", {kDTypeValue, DType::I8, false}},
      {"torch.uint8", {kDTypeValue, DType::U8, false}},
      {"torch.bool", {kDTypeValue, DType::BOOL, false}},
      {"torch.uint16", {kDTypeValue, DType::U16, false}},
      {"torch.uint32", {kDTypeValue, DType::U32, false}},
      {"torch.uint64", {kDTypeValue, DType::U64, false}},
      {"torch.float8_e4m3fn", {kDTypeValue, DType::F8_E4M3, false}},
      {"torch.float8_e5m2", {kDTypeValue, DType::F8_E5M2, false}},
      {"torch.float8_e8m0fnu", {kDTypeValue, DType::F8_E8M0, false}},
  };
  return list;
}

// Known to be harmless torch names whose data gen cannot represent.
bool known_unsupported(const std::string& full) {
  static const char* const names[] = {
      "torch.ComplexFloatStorage", "torch.ComplexDoubleStorage", "torch.QInt8Storage",
      "torch.QUInt8Storage", "torch.QInt32Storage", "torch.QUInt4x2Storage",
      "torch.QUInt2x4Storage", "torch.complex64", "torch.complex128", "torch.complex32",
      "torch.float8_e4m3fnuz", "torch.float8_e5m2fnuz", "torch.float4_e2m1fn_x2"};
  for (const char* n : names)
    if (full == n) return true;
  return false;
}

const Allowed& allowed(const Value* g) { return allow_list().at(g->s); }

bool is_global(const Value* v, Tag tag) { return v->kind == Kind::Global && v->i == tag; }

bool checked_add(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_add_overflow(a, b, &out);
}
bool checked_mul(std::uint64_t a, std::uint64_t b, std::uint64_t& out) {
  return !__builtin_mul_overflow(a, b, &out);
}

}  // namespace

std::size_t element_size(DType dtype) noexcept {
  switch (dtype) {
    case DType::BOOL: case DType::U8: case DType::I8:
    case DType::F8_E4M3: case DType::F8_E5M2: case DType::F8_E8M0: return 1;
    case DType::I16: case DType::U16: case DType::F16: case DType::BF16: return 2;
    case DType::I32: case DType::U32: case DType::F32: return 4;
    case DType::I64: case DType::U64: case DType::F64: case DType::C64: return 8;
    default: return 0;
  }
}

void TorchHooks::unsafe(const std::string& problem) const {
  fail(ErrorCode::UnsafeContent, subject_,
       "refusing to load: " + problem +
           " (gen reads plain tensor data only and never runs code from a checkpoint)");
}

void TorchHooks::bad(const std::string& problem) const {
  fail(ErrorCode::InvalidFormat, subject_, problem);
}

Value* TorchHooks::find_class(Arena& arena, const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  auto it = allow_list().find(full);
  if (it == allow_list().end()) {
    if (known_unsupported(full))
      fail(ErrorCode::Unsupported, subject_, "the checkpoint uses " + full + ", which gen does not support");
    unsafe("the pickle imports '" + full + "', which is not plain tensor data");
  }
  Value* g = arena.make(Kind::Global);
  g->s = full;
  g->i = it->second.tag;
  return g;
}

Value* TorchHooks::call(Arena& arena, Value* callable, Value* args, const char* opcode) {
  if (callable->kind != Kind::Global)
    unsafe(std::string(opcode) + " calls a " + pickle::describe(callable) + ", not an allowed constructor");
  const std::string op = opcode;
  const auto& a = args->items;
  switch (callable->i) {
    case kOrderedDict: {
      if (op != "REDUCE" && op != "NEWOBJ" && op != "NEWOBJ_EX")
        unsafe(op + " of collections.OrderedDict");
      Value* d = arena.make(Kind::Dict);
      if (a.empty()) return d;
      if (a.size() != 1) bad("collections.OrderedDict called with " + std::to_string(a.size()) + " arguments");
      const Value* src = a[0];
      if (src->kind == Kind::Dict) {
        for (std::size_t k = 0; k + 1 < src->items.size(); k += 2) pickle::dict_set(d, src->items[k], src->items[k + 1]);
        return d;
      }
      if (src->kind != Kind::List && src->kind != Kind::Tuple) bad("collections.OrderedDict called with a " + pickle::describe(src));
      for (const Value* pair : src->items) {
        if ((pair->kind != Kind::Tuple && pair->kind != Kind::List) || pair->items.size() != 2)
          bad("collections.OrderedDict item is not a pair");
        if (!pickle::dict_set(d, pair->items[0], pair->items[1])) bad("unhashable OrderedDict key");
      }
      return d;
    }
    case kSize: {
      if (op != "REDUCE" && op != "NEWOBJ") unsafe(op + " of torch.Size");
      if (a.size() != 1 || a[0]->kind != Kind::Tuple) bad("torch.Size expects one tuple");
      for (const Value* x : a[0]->items)
        if (x->kind != Kind::Int) bad("torch.Size holds a " + pickle::describe(x));
      Value* t = arena.make(Kind::Tuple);
      t->items = a[0]->items;
      return t;
    }
    case kEncode: {
      if (op != "REDUCE") unsafe(op + " of _codecs.encode");
      if (a.size() != 2 || a[0]->kind != Kind::Str || a[1]->kind != Kind::Str ||
          (a[1]->s != "latin1" && a[1]->s != "latin-1"))
        unsafe("_codecs.encode is allowed only as (str, 'latin1')");
      // UTF-8 text of code points below 256 → those bytes.
      Value* b = arena.make(Kind::Bytes);
      const std::string& s = a[0]->s;
      for (std::size_t k = 0; k < s.size(); ++k) {
        const unsigned char c = static_cast<unsigned char>(s[k]);
        if (c < 0x80) {
          b->s += static_cast<char>(c);
        } else if ((c == 0xC2 || c == 0xC3) && k + 1 < s.size()) {
          b->s += static_cast<char>(((c & 0x03) << 6) | (static_cast<unsigned char>(s[++k]) & 0x3F));
        } else {
          bad("_codecs.encode: a character does not fit in latin-1");
        }
      }
      return b;
    }
    case kRebuildV2:
    case kRebuildV3:
      if (op != "REDUCE") unsafe(op + " of " + callable->s);
      return rebuild_tensor(arena, args, callable->i == kRebuildV3);
    case kParameter:
    case kParameterWithState: {
      if (op != "REDUCE") unsafe(op + " of " + callable->s);
      const std::size_t want = callable->i == kParameter ? 3 : 4;
      if (a.size() != want && !(callable->i == kParameter && a.size() == 2))
        bad(callable->s + " expects " + std::to_string(want) + " arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Kind::Tensor && a[0]->kind != Kind::None)
        bad(callable->s + " wraps a " + pickle::describe(a[0]) + ", not a tensor");
      return a[0];  // a Parameter is its tensor; requires_grad, hooks and attributes are dropped
    }
    default:
      unsafe(op + " calls " + callable->s + ", which is only allowed as a type marker");
  }
}

Value* TorchHooks::rebuild_tensor(Arena& arena, Value* args, bool v3) {
  const auto& a = args->items;
  const char* fn = v3 ? "_rebuild_tensor_v3" : "_rebuild_tensor_v2";
  const std::size_t base = v3 ? 7 : 6;
  if (a.size() != base && a.size() != base + 1)
    bad(std::string(fn) + " expects " + std::to_string(base) + " or " + std::to_string(base + 1) +
        " arguments, got " + std::to_string(a.size()));
  const Value* storage = a[0];
  const Value* offset = a[1];
  const Value* size = a[2];
  const Value* stride = a[3];
  if (a[4]->kind != Kind::Bool) bad(std::string(fn) + ": requires_grad is a " + pickle::describe(a[4]));
  if (a[5]->kind != Kind::Dict && a[5]->kind != Kind::None)
    bad(std::string(fn) + ": backward hooks are a " + pickle::describe(a[5]));
  if (a.size() == base + 1) {  // tensor metadata: the conj / neg bits
    const Value* meta = a[base];
    if (meta->kind != Kind::Dict && meta->kind != Kind::None)
      bad(std::string(fn) + ": metadata is a " + pickle::describe(meta));
    if (meta->kind == Kind::Dict)
      for (std::size_t k = 1; k < meta->items.size(); k += 2)
        if (meta->items[k]->kind != Kind::Bool || meta->items[k]->b)
          fail(ErrorCode::Unsupported, subject_,
               "a tensor carries metadata " + pickle::describe(meta->items[k - 1]) +
                   " (conjugate / negative view); gen does not support it");
  }
  if (zip_ == nullptr) return arena.none();  // scan only

  if (storage->kind != Kind::Storage) bad(std::string(fn) + ": the storage is a " + pickle::describe(storage));
  const StorageRef& st = storages_.at(static_cast<std::size_t>(storage->i));
  TensorRef t;
  t.storage = static_cast<std::size_t>(storage->i);
  if (v3) {
    if (!is_global(a[6], kDTypeValue)) bad("_rebuild_tensor_v3: the dtype is a " + pickle::describe(a[6]));
    t.dtype = allowed(a[6]).dtype;
  } else {
    if (st.untyped) bad("_rebuild_tensor_v2 on an untyped storage (no dtype)");
    t.dtype = st.dtype;
  }
  if (offset->kind != Kind::Int || offset->i < 0) bad(std::string(fn) + ": bad storage offset " + pickle::describe(offset));
  t.offset = static_cast<std::uint64_t>(offset->i);
  if (size->kind != Kind::Tuple || stride->kind != Kind::Tuple || size->items.size() != stride->items.size())
    bad(std::string(fn) + ": size and stride must be tuples of one length");
  if (size->items.size() > 64) bad(std::string(fn) + ": more than 64 dimensions");
  std::uint64_t numel = 1, last = 0;  // `last`: the largest element index used
  bool empty = false;
  for (std::size_t d = 0; d < size->items.size(); ++d) {
    const Value* s = size->items[d];
    const Value* r = stride->items[d];
    if (s->kind != Kind::Int || s->i < 0) bad(std::string(fn) + ": bad size " + pickle::describe(s));
    if (r->kind != Kind::Int || r->i < 0) bad(std::string(fn) + ": bad stride " + pickle::describe(r));
    t.shape.push_back(s->i);
    t.stride.push_back(r->i);
    if (s->i == 0) empty = true;
    if (!checked_mul(numel, static_cast<std::uint64_t>(s->i), numel)) bad("tensor size overflows");
  }
  const std::size_t es = element_size(t.dtype);
  if (es == 0) fail(ErrorCode::Unsupported, subject_, std::string("tensors of dtype ") + dtype_name(t.dtype) + " are not supported");
  std::uint64_t bytes = 0;
  if (!checked_mul(numel, es, bytes)) bad("tensor size overflows");
  if (!empty) {
    for (std::size_t d = 0; d < t.shape.size(); ++d) {
      std::uint64_t span = 0;
      if (!checked_mul(static_cast<std::uint64_t>(t.shape[d] - 1), static_cast<std::uint64_t>(t.stride[d]), span) ||
          !checked_add(last, span, last))
        bad("tensor strides overflow");
    }
    std::uint64_t end = 0, end_bytes = 0;
    if (!checked_add(last, t.offset, end) || !checked_add(end, 1, end) || !checked_mul(end, es, end_bytes) ||
        end_bytes > st.nbytes)
      bad("a tensor of shape " + std::to_string(t.shape.size()) + "-d reaches past the end of storage '" + st.key +
          "' (" + std::to_string(st.nbytes) + " bytes)");
  }
  tensors_.push_back(std::move(t));
  Value* v = arena.make(Kind::Tensor);
  v->i = static_cast<std::int64_t>(tensors_.size() - 1);
  return v;
}

void TorchHooks::build(Arena&, Value* object, Value* state) {
  // OrderedDict state dicts carry a `_metadata` attribute (module versions): ignored.
  if (object->kind == Kind::Dict &&
      (state->kind == Kind::Dict || state->kind == Kind::None || state->kind == Kind::Tuple))
    return;
  unsafe("BUILD (setting object state) on a " + pickle::describe(object));
}

Value* TorchHooks::persistent_load(Arena& arena, Value* pid) {
  if (pid->kind != Kind::Tuple || pid->items.empty() || pid->items[0]->kind != Kind::Str)
    bad("persistent id is a " + pickle::describe(pid) + ", not a ('storage', ...) tuple");
  const auto& a = pid->items;
  if (a[0]->s != "storage")
    fail(ErrorCode::Unsupported, subject_, "persistent id of kind '" + a[0]->s + "' is not supported");
  if (zip_ == nullptr) return arena.none();  // scan only (legacy ids have 6 items)
  if (a.size() != 5) bad("storage persistent id has " + std::to_string(a.size()) + " items, not 5");
  if (!is_global(a[1], kStorageType)) bad("storage persistent id names a " + pickle::describe(a[1]));
  if (a[2]->kind != Kind::Str || a[2]->s.empty() || a[2]->s.size() > 256 ||
      a[2]->s.find('/') != std::string::npos || a[2]->s.find('\0') != std::string::npos)
    bad("bad storage key " + pickle::describe(a[2]));
  if (a[3]->kind != Kind::Str) bad("bad storage location " + pickle::describe(a[3]));
  if (a[4]->kind != Kind::Int || a[4]->i < 0) bad("bad storage size " + pickle::describe(a[4]));
  const Allowed& type = allowed(a[1]);
  StorageRef st;
  st.dtype = type.dtype;
  st.untyped = type.untyped;
  st.key = a[2]->s;
  const std::string entry_name = prefix_ + "data/" + st.key;
  const ZipEntry* e = zip_->find(entry_name);
  if (e == nullptr) bad("storage '" + st.key + "' has no entry '" + entry_name + "' in the archive");
  st.entry = static_cast<std::size_t>(e - zip_->entries().data());
  if (!checked_mul(static_cast<std::uint64_t>(a[4]->i), element_size(st.dtype), st.nbytes) || st.nbytes > e->size)
    bad("storage '" + st.key + "' declares " + std::to_string(a[4]->i) + " elements but its entry holds " +
        std::to_string(e->size) + " bytes");
  storages_.push_back(std::move(st));
  Value* v = arena.make(Kind::Storage);
  v->i = static_cast<std::int64_t>(storages_.size() - 1);
  return v;
}

}  // namespace torchpk
}  // namespace gen::io
