// The pickle virtual machine: opcodes of protocols 0-5, interpreted into a value
// tree. Nothing is imported or called: see pickle_reader.hpp.
#include "io/pickle_reader.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "core/fail.hpp"

namespace gen::io {
namespace pickle {

Value* Arena::make(Kind kind) {
  if (full()) fail(ErrorCode::InvalidFormat, "", "pickle builds too many values");
  values_.emplace_back();
  values_.back().kind = kind;
  return &values_.back();
}

namespace {

std::string short_text(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 80)) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\'' || c == '\\') {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  if (s.size() > 80) out += "...";
  return out;
}

class Machine {
 public:
  Machine(const std::uint8_t* bytes, std::size_t size, Arena& arena, PickleHooks& hooks,
          const std::string& subject, const std::string& where, const PickleLimits& limits)
      : p_(bytes), n_(size), arena_(arena), hooks_(hooks), subject_(subject), where_(where),
        limits_(limits) {}

  Value* run();
  std::size_t position() const noexcept { return pos_; }

 private:
  [[noreturn]] void bad(const std::string& problem) const {
    fail(ErrorCode::InvalidFormat, subject_,
         where_ + " at offset " + std::to_string(op_pos_) + ": " + problem);
  }
  void need(std::size_t count) const {
    if (count > n_ - pos_)
      bad("truncated: opcode needs " + std::to_string(count) + " more bytes, " +
          std::to_string(n_ - pos_) + " left");
  }
  std::uint64_t le(std::size_t count) {
    need(count);
    std::uint64_t v = 0;
    for (std::size_t k = 0; k < count; ++k) v |= static_cast<std::uint64_t>(p_[pos_ + k]) << (8 * k);
    pos_ += count;
    return v;
  }
  std::string take(std::uint64_t count) {
    if (count > n_ - pos_)
      bad("a length of " + std::to_string(count) + " bytes runs past the end (" +
          std::to_string(n_ - pos_) + " left)");
    std::string s(reinterpret_cast<const char*>(p_ + pos_), static_cast<std::size_t>(count));
    pos_ += static_cast<std::size_t>(count);
    return s;
  }
  std::string line() {
    const void* nl = std::memchr(p_ + pos_, '\n', n_ - pos_);
    if (nl == nullptr) bad("truncated: a text argument has no end of line");
    const std::size_t len = static_cast<const std::uint8_t*>(nl) - (p_ + pos_);
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len + 1;
    if (!s.empty() && s.back() == '\r') s.pop_back();
    return s;
  }

  Value* make(Kind kind) {
    if (arena_.full()) bad("too many values (limit " + std::to_string(arena_.size()) + ")");
    return arena_.make(kind);
  }
  Value* make_int(std::int64_t v) {
    Value* x = make(Kind::Int);
    x->i = v;
    return x;
  }
  Value* make_str(std::string s, Kind kind) {
    if (kind == Kind::Str && !valid_utf8(s)) bad("a string is not valid UTF-8");
    Value* x = make(kind);
    x->s = std::move(s);
    return x;
  }
  Value* make_seq(Kind kind, std::vector<Value*> items) {
    Value* x = make(kind);
    x->items = std::move(items);
    return x;
  }

  std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value* v) {
    if (stack_.size() >= limits_.max_stack) bad("stack too deep");
    stack_.push_back(v);
  }
  Value* pop() {
    if (stack_.size() <= floor()) bad("stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value* top() {
    if (stack_.size() <= floor()) bad("stack underflow");
    return stack_.back();
  }
  std::vector<Value*> pop_mark() {
    if (marks_.empty()) bad("no MARK to pop to");
    const std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return items;
  }

  void memo_put(std::uint64_t index, Value* v) {
    auto it = memo_.find(index);
    if (it != memo_.end()) {
      it->second = v;
      return;
    }
    if (memo_.size() >= limits_.max_memo) bad("memo too large");
    memo_.emplace(index, v);
  }
  Value* memo_get(std::uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) bad("memo key " + std::to_string(index) + " was never stored");
    return it->second;
  }

  Value* long_from_bytes(const std::string& bytes) {
    const std::size_t n = bytes.size();
    if (n == 0) return make_int(0);
    const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
    const bool negative = (u[n - 1] & 0x80) != 0;
    // Fits in int64 when every byte above the 8th is sign extension and the sign matches.
    bool fits = true;
    for (std::size_t k = 8; k < n; ++k)
      if (u[k] != (negative ? 0xFF : 0x00)) fits = false;
    if (fits && n > 8 && ((u[7] & 0x80) != 0) != negative) fits = false;
    if (!fits) {
      Value* x = make(Kind::BigInt);
      x->s = std::to_string(n) + "-byte";
      return x;
    }
    std::uint64_t v = negative ? ~std::uint64_t{0} : 0;
    for (std::size_t k = 0; k < n && k < 8; ++k) {
      v &= ~(std::uint64_t{0xFF} << (8 * k));
      v |= static_cast<std::uint64_t>(u[k]) << (8 * k);
    }
    std::int64_t s;
    std::memcpy(&s, &v, sizeof s);
    return make_int(s);
  }

  void append_to(Value* list, const std::vector<Value*>& items, const char* op) {
    if (list->kind != Kind::List) bad(std::string(op) + " to a " + describe(list) + ", not a list");
    list->items.insert(list->items.end(), items.begin(), items.end());
  }
  void set_items(Value* dict, const std::vector<Value*>& kv, const char* op) {
    if (dict->kind != Kind::Dict) bad(std::string(op) + " on a " + describe(dict) + ", not a dict");
    if (kv.size() % 2 != 0) bad(std::string(op) + " with an odd number of items");
    for (std::size_t k = 0; k < kv.size(); k += 2)
      if (!dict_set(dict, kv[k], kv[k + 1])) bad("unhashable dict key: " + describe(kv[k]));
  }
  void add_to_set(Value* set, const std::vector<Value*>& items) {
    if (set->kind != Kind::Set) bad("ADDITEMS on a " + describe(set) + ", not a set");
    for (Value* v : items) {
      if (key_identity(v).empty()) bad("unhashable set item: " + describe(v));
      set->items.push_back(v);
    }
  }
  Value* call(Value* callable, Value* args, const char* op) {
    if (args->kind != Kind::Tuple) bad(std::string(op) + " arguments are a " + describe(args) + ", not a tuple");
    return hooks_.call(arena_, callable, args, op);
  }
  std::string global_part(const std::string& s, const char* what) {
    if (s.empty() || s.size() > 1000 || !valid_utf8(s)) bad(std::string("bad ") + what + " name in a global");
    return s;
  }

  void step(std::uint8_t op);

  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t pos_ = 0;
  std::size_t op_pos_ = 0;
  Arena& arena_;
  PickleHooks& hooks_;
  const std::string& subject_;
  const std::string& where_;
  PickleLimits limits_;
  std::vector<Value*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Value*> memo_;
  Value* result_ = nullptr;
};

Value* Machine::run() {
  if (n_ > limits_.max_bytes)
    fail(ErrorCode::Unsupported, subject_,
         where_ + " is " + std::to_string(n_) + " bytes; gen reads pickles up to " +
             std::to_string(limits_.max_bytes) + " bytes");
  while (result_ == nullptr) {
    op_pos_ = pos_;
    if (pos_ >= n_) bad("the pickle ends without a STOP opcode (truncated)");
    step(p_[pos_++]);
  }
  return result_;
}

void Machine::step(std::uint8_t op) {
  switch (op) {
    // --- framing and protocol
    case 0x80: {  // PROTO
      const std::uint64_t v = le(1);
      if (v > 5) bad("pickle protocol " + std::to_string(v) + " is newer than 5");
      return;
    }
    case 0x95: {  // FRAME: a size hint; the bytes follow inline
      const std::uint64_t len = le(8);
      if (len > n_ - pos_) bad("a frame runs past the end");
      return;
    }
    case '.':  // STOP
      result_ = pop();
      return;

    // --- stack manipulation
    case '(': marks_.push_back(stack_.size()); return;  // MARK
    case '0':  // POP (pops a mark when the current stack is empty)
      if (stack_.size() > floor()) stack_.pop_back();
      else pop_mark();
      return;
    case '1': pop_mark(); return;  // POP_MARK
    case '2': push(top()); return;  // DUP

    // --- constants and numbers
    case 'N': push(arena_.none()); return;
    case 0x88: push(arena_.boolean(true)); return;
    case 0x89: push(arena_.boolean(false)); return;
    case 'K': push(make_int(static_cast<std::int64_t>(le(1)))); return;  // BININT1
    case 'M': push(make_int(static_cast<std::int64_t>(le(2)))); return;  // BININT2
    case 'J': push(make_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(le(4))))); return;
    case 'I':    // INT (text; "00" / "01" are False / True)
    case 'L': {  // LONG (text, trailing 'L')
      std::string t = line();
      if (op == 'I' && (t == "00" || t == "01")) {
        push(arena_.boolean(t == "01"));
        return;
      }
      if (op == 'L' && !t.empty() && t.back() == 'L') t.pop_back();
      std::int64_t v = 0;
      bool big = false;
      if (!parse_int_text(t, v, big)) bad("malformed integer text '" + short_text(t) + "'");
      if (big) {
        Value* x = make(Kind::BigInt);
        x->s = std::to_string(t.size()) + "-digit";
        push(x);
      } else {
        push(make_int(v));
      }
      return;
    }
    case 0x8a: push(long_from_bytes(take(le(1)))); return;  // LONG1
    case 0x8b: {  // LONG4
      const std::uint64_t len = le(4);
      if (len > 0x7FFFFFFFu) bad("negative LONG4 length");
      push(long_from_bytes(take(len)));
      return;
    }
    case 'F': {  // FLOAT (text)
      const std::string t = line();
      double d = 0;
      if (!parse_float_text(t, d)) bad("malformed float text '" + short_text(t) + "'");
      Value* x = make(Kind::Float);
      x->f = d;
      push(x);
      return;
    }
    case 'G': {  // BINFLOAT, big-endian
      need(8);
      std::uint64_t bits = 0;
      for (int k = 0; k < 8; ++k) bits = (bits << 8) | p_[pos_ + k];
      pos_ += 8;
      Value* x = make(Kind::Float);
      std::memcpy(&x->f, &bits, sizeof bits);
      push(x);
      return;
    }

    // --- strings and bytes
    case 'X': push(make_str(take(le(4)), Kind::Str)); return;     // BINUNICODE
    case 0x8c: push(make_str(take(le(1)), Kind::Str)); return;    // SHORT_BINUNICODE
    case 0x8d: push(make_str(take(le(8)), Kind::Str)); return;    // BINUNICODE8
    case 'U': push(make_str(take(le(1)), Kind::Str)); return;     // SHORT_BINSTRING
    case 'T': {                                                   // BINSTRING
      const std::uint64_t len = le(4);
      if (len > 0x7FFFFFFFu) bad("negative BINSTRING length");
      push(make_str(take(len), Kind::Str));
      return;
    }
    case 'C': push(make_str(take(le(1)), Kind::Bytes)); return;   // SHORT_BINBYTES
    case 'B': push(make_str(take(le(4)), Kind::Bytes)); return;   // BINBYTES
    case 0x8e: push(make_str(take(le(8)), Kind::Bytes)); return;  // BINBYTES8
    case 0x96: push(make_str(take(le(8)), Kind::Bytes)); return;  // BYTEARRAY8
    case 'S': {  // STRING: a quoted, escaped literal
      std::string out;
      if (!decode_string_literal(line(), out)) bad("malformed STRING literal");
      push(make_str(std::move(out), Kind::Str));
      return;
    }
    case 'V': {  // UNICODE: raw-unicode-escape text
      std::string out;
      if (!decode_raw_unicode_escape(line(), out)) bad("malformed UNICODE text");
      push(make_str(std::move(out), Kind::Str));
      return;
    }

    // --- containers
    case ')': push(make_seq(Kind::Tuple, {})); return;
    case 't': push(make_seq(Kind::Tuple, pop_mark())); return;
    case 0x85: {
      Value* a = pop();
      push(make_seq(Kind::Tuple, {a}));
      return;
    }
    case 0x86: {
      Value* b = pop();
      Value* a = pop();
      push(make_seq(Kind::Tuple, {a, b}));
      return;
    }
    case 0x87: {
      Value* c = pop();
      Value* b = pop();
      Value* a = pop();
      push(make_seq(Kind::Tuple, {a, b, c}));
      return;
    }
    case ']': push(make_seq(Kind::List, {})); return;
    case 'l': push(make_seq(Kind::List, pop_mark())); return;
    case 'a': {  // APPEND
      Value* v = pop();
      append_to(top(), {v}, "APPEND");
      return;
    }
    case 'e': {  // APPENDS
      std::vector<Value*> items = pop_mark();
      append_to(top(), items, "APPENDS");
      return;
    }
    case '}': push(make(Kind::Dict)); return;
    case 'd': {  // DICT
      std::vector<Value*> kv = pop_mark();
      Value* d = make(Kind::Dict);
      set_items(d, kv, "DICT");
      push(d);
      return;
    }
    case 's': {  // SETITEM
      Value* v = pop();
      Value* k = pop();
      set_items(top(), {k, v}, "SETITEM");
      return;
    }
    case 'u': {  // SETITEMS
      std::vector<Value*> kv = pop_mark();
      set_items(top(), kv, "SETITEMS");
      return;
    }
    case 0x8f: push(make(Kind::Set)); return;  // EMPTY_SET
    case 0x90: {                                // ADDITEMS
      std::vector<Value*> items = pop_mark();
      add_to_set(top(), items);
      return;
    }
    case 0x91: {  // FROZENSET
      std::vector<Value*> items = pop_mark();
      Value* s = make(Kind::Set);
      add_to_set(s, items);
      push(s);
      return;
    }

    // --- memo
    case 'p': {  // PUT
      std::int64_t i = 0;
      bool big = false;
      if (!parse_int_text(line(), i, big) || big || i < 0) bad("malformed PUT index");
      memo_put(static_cast<std::uint64_t>(i), top());
      return;
    }
    case 'q': memo_put(le(1), top()); return;  // BINPUT
    case 'r': memo_put(le(4), top()); return;  // LONG_BINPUT
    case 0x94: memo_put(memo_.size(), top()); return;  // MEMOIZE
    case 'g': {  // GET
      std::int64_t i = 0;
      bool big = false;
      if (!parse_int_text(line(), i, big) || big || i < 0) bad("malformed GET index");
      push(memo_get(static_cast<std::uint64_t>(i)));
      return;
    }
    case 'h': push(memo_get(le(1))); return;  // BINGET
    case 'j': push(memo_get(le(4))); return;  // LONG_BINGET

    // --- everything that would import or call: decided by the hooks
    case 'c': {  // GLOBAL module\nname\n
      const std::string module = global_part(line(), "module");
      const std::string name = global_part(line(), "class");
      push(hooks_.find_class(arena_, module, name));
      return;
    }
    case 0x93: {  // STACK_GLOBAL
      Value* name = pop();
      Value* module = pop();
      if (module->kind != Kind::Str || name->kind != Kind::Str) bad("STACK_GLOBAL needs two strings");
      push(hooks_.find_class(arena_, global_part(module->s, "module"), global_part(name->s, "class")));
      return;
    }
    case 'R': {  // REDUCE
      Value* args = pop();
      Value* callable = pop();
      push(call(callable, args, "REDUCE"));
      return;
    }
    case 0x81: {  // NEWOBJ
      Value* args = pop();
      Value* cls = pop();
      push(call(cls, args, "NEWOBJ"));
      return;
    }
    case 0x92: {  // NEWOBJ_EX
      Value* kwargs = pop();
      Value* args = pop();
      Value* cls = pop();
      if (kwargs->kind != Kind::Dict || !kwargs->items.empty())
        fail(ErrorCode::UnsafeContent, subject_,
             where_ + ": NEWOBJ_EX with keyword arguments creates " + describe(cls) +
                 ", which is not plain tensor data");
      push(call(cls, args, "NEWOBJ_EX"));
      return;
    }
    case 'i': {  // INST module\nname\n, arguments since the mark
      const std::string module = global_part(line(), "module");
      const std::string name = global_part(line(), "class");
      std::vector<Value*> args = pop_mark();
      Value* cls = hooks_.find_class(arena_, module, name);
      push(call(cls, make_seq(Kind::Tuple, std::move(args)), "INST"));
      return;
    }
    case 'o': {  // OBJ: class and arguments since the mark
      std::vector<Value*> items = pop_mark();
      if (items.empty()) bad("OBJ without a class");
      Value* cls = items.front();
      items.erase(items.begin());
      push(call(cls, make_seq(Kind::Tuple, std::move(items)), "OBJ"));
      return;
    }
    case 'b': {  // BUILD
      Value* state = pop();
      hooks_.build(arena_, top(), state);
      return;
    }
    case 'P': {  // PERSID (text id)
      std::string id = line();
      push(hooks_.persistent_load(arena_, make_str(std::move(id), Kind::Str)));
      return;
    }
    case 'Q': {  // BINPERSID
      Value* pid = pop();
      push(hooks_.persistent_load(arena_, pid));
      return;
    }
    case 0x82:
    case 0x83:
    case 0x84: {  // EXT1 / EXT2 / EXT4
      const std::uint64_t code = le(op == 0x82 ? 1 : op == 0x83 ? 2 : 4);
      fail(ErrorCode::UnsafeContent, subject_,
           where_ + " at offset " + std::to_string(op_pos_) + ": extension registry code " +
               std::to_string(code) + " (copyreg) names an arbitrary global; refused");
    }
    case 0x97:
    case 0x98:
      fail(ErrorCode::Unsupported, subject_,
           where_ + " at offset " + std::to_string(op_pos_) +
               ": out-of-band buffers (pickle protocol 5) are not supported");
    default: {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", op);
      bad(std::string("unknown opcode ") + buf);
    }
  }
}

}  // namespace

Value* run_pickle(const std::uint8_t* bytes, std::size_t size, Arena& arena, PickleHooks& hooks,
                  const std::string& subject, const std::string& where,
                  const PickleLimits& limits, std::size_t* consumed) {
  Machine m(bytes, size, arena, hooks, subject, where, limits);
  Value* v = m.run();
  if (consumed != nullptr) *consumed = m.position();
  return v;
}

std::string describe(const Value* v) {
  switch (v->kind) {
    case Kind::None: return "None";
    case Kind::Bool: return v->b ? "bool True" : "bool False";
    case Kind::Int: return "int " + std::to_string(v->i);
    case Kind::BigInt: return "int (" + v->s + ")";
    case Kind::Float: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "float %g", v->f);
      return buf;
    }
    case Kind::Str: return "str '" + short_text(v->s) + "'";
    case Kind::Bytes: return "bytes of " + std::to_string(v->s.size());
    case Kind::Tuple: return "tuple of " + std::to_string(v->items.size());
    case Kind::List: return "list of " + std::to_string(v->items.size());
    case Kind::Dict: return "dict of " + std::to_string(v->items.size() / 2);
    case Kind::Set: return "set of " + std::to_string(v->items.size());
    case Kind::Global: return "global " + v->s;
    case Kind::Storage: return "storage";
    case Kind::Tensor: return "tensor";
  }
  return "value";
}

namespace {

// A tuple that holds one value many times over (DUP or the memo, nested: 2^n copies
// in 2n bytes) would spell out an identity exponential in its size; past this many
// bytes it gets none, as a tuple nested deeper than 32 does.
constexpr std::size_t kMaxKeyIdentity = 64 * 1024;

bool key_identity_into(const Value* v, std::string& out, int depth) {
  switch (v->kind) {
    case Kind::None: out += "N;"; return true;
    case Kind::Bool: out += v->b ? "i1;" : "i0;"; return true;
    case Kind::Int: out += "i" + std::to_string(v->i) + ";"; return true;
    case Kind::Float: {
      if (std::isfinite(v->f) && std::floor(v->f) == v->f && std::fabs(v->f) < 9.0e18) {
        out += "i" + std::to_string(static_cast<std::int64_t>(v->f)) + ";";  // 1.0 == 1
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "f%.17g;", v->f);
        out += buf;
      }
      return true;
    }
    case Kind::Str: out += "s" + std::to_string(v->s.size()) + ":" + v->s; return true;
    case Kind::Bytes: out += "b" + std::to_string(v->s.size()) + ":" + v->s; return true;
    case Kind::Tuple:
      if (depth > 32) return false;
      out += "(";
      for (const Value* x : v->items)
        if (!key_identity_into(x, out, depth + 1) || out.size() > kMaxKeyIdentity) return false;
      out += ")";
      return true;
    default: return false;  // big ints, globals, tensors: never deduplicated
  }
}

}  // namespace

std::string key_identity(const Value* v) {
  std::string out;
  if (!key_identity_into(v, out, 0)) return {};
  return out;
}

bool dict_set(Value* dict, Value* key, Value* value) {
  if (key->kind == Kind::List || key->kind == Kind::Dict ||
      (key->kind == Kind::Set))
    return false;
  std::string id = key_identity(key);
  if (id.empty()) {  // hashable by identity in Python: always a new key here
    dict->items.push_back(key);
    dict->items.push_back(value);
    return true;
  }
  if (!dict->keys) dict->keys = std::make_unique<std::unordered_map<std::string, std::size_t>>();
  auto it = dict->keys->find(id);
  if (it != dict->keys->end()) {
    dict->items[it->second + 1] = value;
    return true;
  }
  dict->keys->emplace(std::move(id), dict->items.size());
  dict->items.push_back(key);
  dict->items.push_back(value);
  return true;
}

Value* dict_get(const Value* dict, const std::string& key) {
  if (dict->kind != Kind::Dict || !dict->keys) return nullptr;
  auto it = dict->keys->find("s" + std::to_string(key.size()) + ":" + key);
  return it == dict->keys->end() ? nullptr : dict->items[it->second + 1];
}

}  // namespace pickle
}  // namespace gen::io
