#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>

#include "io/pickle_reader.hpp"
#include "io/torch_checkpoint.hpp"
#include "io/torch_pickle_hooks.hpp"
#include "pickle_test_util.hpp"
#include "zip_test_util.hpp"

using gen::ErrorCode;
using gen::io::pickle::Kind;
using gen::io::pickle::Value;
using namespace gen::testing;

namespace {

template <std::size_t N>
std::vector<std::uint8_t> B(const char (&s)[N]) {
  return std::vector<std::uint8_t>(s, s + N - 1);
}

// Runs a pickle with the torch hooks in scan mode (no archive).
struct ScanRun {
  gen::io::pickle::Arena arena;
  gen::io::torchpk::TorchHooks hooks{"mem.pkl", nullptr, ""};
  Value* operator()(const std::vector<std::uint8_t>& bytes) {
    return gen::io::pickle::run_pickle(bytes.data(), bytes.size(), arena, hooks, "mem.pkl", "data.pkl");
  }
};

template <std::size_t N>
std::string S(const char (&s)[N]) {
  return std::string(s, N - 1);
}

// torch._utils._rebuild_tensor_v2 of the FloatStorage 'archive/data/0' (16 floats),
// offset 0, the given size and stride tuples (pickle text), not requiring grad.
std::string tensor_v2(const std::string& size, const std::string& stride) {
  return S("ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
           "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x10tQK\x00") +
         size + stride + S("\x89}tR");
}

// Reads `pkl` as the data.pkl of a torch.save archive holding that one storage.
gen::io::TorchCheckpoint read_made_checkpoint(const std::string& pkl) {
  auto bytes = std::make_shared<std::vector<std::uint8_t>>(
      make_zip({{"archive/data/0", std::string(64, '\x01')}, {"archive/data.pkl", pkl}}));
  // The reader owns nothing of the bytes: its deleter keeps them alive as long as it lives.
  auto zip = std::shared_ptr<const gen::io::ZipReader>(
      new gen::io::ZipReader(gen::io::ZipReader::from_memory(bytes->data(), bytes->size(), "made.pt")),
      [bytes](const gen::io::ZipReader* z) { delete z; });
  return gen::io::read_torch_checkpoint(zip);
}

// {'a': d, 'b': d} around the dict `d` on the stack, `levels` times (memo 0 holds d),
// with keys `a` and `b` (pickle values) for every level.
std::string repeat_levels(int levels, const std::string& a, const std::string& b) {
  std::string out;
  for (int k = 0; k < levels; ++k) out += S("q\x00" "0}(") + a + S("h\x00") + b + S("h\x00u");
  return out;
}

std::map<std::string, const gen::io::TorchTensor*> by_name(const gen::io::TorchCheckpoint& c) {
  std::map<std::string, const gen::io::TorchTensor*> m;
  for (const auto& t : c.tensors) m[t.name] = &t;
  return m;
}

}  // namespace

TEST(PickleReader, Protocol0Text) {
  ScanRun run;
  // {'key\u00e9': [1, True, <the list itself>]}
  const Value* v = run(B("(dp0\nVkey\\u00e9\np1\n(lp2\nI1\naI01\nag2\nas."));
  ASSERT_EQ(v->kind, Kind::Dict);
  const Value* list = gen::io::pickle::dict_get(v, "key\xc3\xa9");
  ASSERT_NE(list, nullptr);
  ASSERT_EQ(list->kind, Kind::List);
  ASSERT_EQ(list->items.size(), 3u);
  EXPECT_EQ(list->items[2], list);  // a cycle is just a pointer
}

TEST(PickleReader, Protocol0Values) {
  ScanRun run;
  const Value* v = run(B("(lp0\nI1\naI01\naF2.5\naL12345678901234567890123L\naS'a\\'b\\x41'\naI-7\na."));
  ASSERT_EQ(v->kind, Kind::List);
  ASSERT_EQ(v->items.size(), 6u);
  EXPECT_EQ(v->items[0]->kind, Kind::Int);
  EXPECT_EQ(v->items[0]->i, 1);
  EXPECT_EQ(v->items[1]->kind, Kind::Bool);
  EXPECT_TRUE(v->items[1]->b);
  EXPECT_DOUBLE_EQ(v->items[2]->f, 2.5);
  EXPECT_EQ(v->items[3]->kind, Kind::BigInt);
  EXPECT_EQ(v->items[4]->s, "a'bA");
  EXPECT_EQ(v->items[5]->i, -7);
}

TEST(PickleReader, Protocol2Binary) {
  ScanRun run;
  const Value* v = run(B("\x80\x02]q\x00(K\x01J\xff\xff\xff\xffM\x00\x01\x8a\x02\x00\x80\x8a\x00\x88\x89N"
                         "\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00"
                         "G\x3f\xf8\x00\x00\x00\x00\x00\x00"
                         "e."));
  ASSERT_EQ(v->kind, Kind::List);
  ASSERT_EQ(v->items.size(), 10u);
  EXPECT_EQ(v->items[0]->i, 1);
  EXPECT_EQ(v->items[1]->i, -1);
  EXPECT_EQ(v->items[2]->i, 256);
  EXPECT_EQ(v->items[3]->i, -32768);
  EXPECT_EQ(v->items[4]->i, 0);
  EXPECT_TRUE(v->items[5]->b);
  EXPECT_FALSE(v->items[6]->b);
  EXPECT_EQ(v->items[7]->kind, Kind::None);
  EXPECT_EQ(v->items[8]->kind, Kind::BigInt);  // 2^63 does not fit in int64
  EXPECT_DOUBLE_EQ(v->items[9]->f, 1.5);
}

TEST(PickleReader, Protocol4Opcodes) {
  ScanRun run;
  // FRAME, EMPTY_DICT, MEMOIZE, SHORT_BINUNICODE, BINBYTES, EMPTY_SET + ADDITEMS, FROZENSET,
  // TUPLE3, BINGET, DUP, POP, SETITEMS.
  const Value* v = run(B("\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01" "a\x94"
                         "C\x02xy\x8c\x01" "b\x8f(K\x01K\x02\x90\x8c\x01" "c(K\x03\x91K\x07h\x01\x87"
                         "2" "0u."));
  ASSERT_EQ(v->kind, Kind::Dict);
  ASSERT_EQ(v->items.size(), 6u);
  EXPECT_EQ(gen::io::pickle::dict_get(v, "a")->kind, Kind::Bytes);
  EXPECT_EQ(gen::io::pickle::dict_get(v, "a")->s, "xy");
  EXPECT_EQ(gen::io::pickle::dict_get(v, "b")->items.size(), 2u);
  const Value* c = gen::io::pickle::dict_get(v, "c");
  ASSERT_EQ(c->kind, Kind::Tuple);
  ASSERT_EQ(c->items.size(), 3u);
  EXPECT_EQ(c->items[2]->s, "a");  // memo 1 holds 'a'
}

TEST(PickleReader, DictKeysReplaceLikePython) {
  ScanRun run;
  // {1: 'x', True: 'y'} is one key in Python.
  const Value* v = run(B("\x80\x02}(K\x01X\x01\x00\x00\x00x\x88X\x01\x00\x00\x00yK\x02X\x01\x00\x00\x00zu."));
  ASSERT_EQ(v->kind, Kind::Dict);
  ASSERT_EQ(v->items.size(), 4u);
  EXPECT_EQ(v->items[0]->i, 1);
  EXPECT_EQ(v->items[1]->s, "y");
}

TEST(PickleReader, MalformedStreams) {
  const std::vector<std::pair<std::vector<std::uint8_t>, std::string>> cases = {
      {B(""), "without a STOP"},
      {B("."), "underflow"},
      {B("K"), "truncated"},
      {B("\x80\x06."), "protocol 6"},
      {B("h\x05."), "memo key 5"},
      {B("K\x01K\x02" "a."), "not a list"},
      {B("X\xff\xff\xff\x7f"), "runs past the end"},
      {B("\xfe"), "unknown opcode 0xfe"},
      {B("(."), "underflow"},
      {B("}]K\x01s."), "unhashable"},
      {B("X\x02\x00\x00\x00\xff\xfe."), "UTF-8"},
      {B("1."), "no MARK"},
      {B("I12x\n."), "malformed integer"},
      {B("F1.5.5\n."), "malformed float"},
      {B("S'abc\n."), "STRING"},
      {B("\x8b\x00\x00\x00\x80"), "negative LONG4"},
      {B("](K\x01K\x02u."), "not a dict"},
      {B("\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), "frame"},
  };
  for (const auto& [bytes, needle] : cases) {
    ScanRun run;
    expect_error([&] { run(bytes); }, ErrorCode::InvalidFormat, {"mem.pkl", needle});
  }
}

TEST(PickleReader, RefusesGlobalsAndCalls) {
  const std::vector<std::pair<std::vector<std::uint8_t>, std::string>> cases = {
      {B("cposix\nsystem\n(S'id'\ntR."), "posix.system"},
      {B("\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93."), "builtins.eval"},
      {B("(cos\nsystem\nS'id'\no."), "os.system"},
      {B("(S'id'\nios\nsystem\n."), "os.system"},
      {B("\x82\x01."), "extension registry"},
      {B("ctorch\nFloatStorage\n)R."), "torch.FloatStorage"},   // calling a type marker
      {B("K\x01)R."), "int 1"},                                   // calling a non-global
      {B("]}b."), "BUILD"},                                       // BUILD on a list
      {B("(ccollections\nOrderedDict\no."), "OBJ of collections.OrderedDict"},
      {B("c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x05\x00\x00\x00rot13\x86R."), "_codecs.encode"},
      {B("cpytorch_lightning.callbacks\nModelCheckpoint\n."), "pytorch_lightning.callbacks.ModelCheckpoint"},
  };
  for (const auto& [bytes, needle] : cases) {
    ScanRun run;
    expect_error([&] { run(bytes); }, ErrorCode::UnsafeContent, {"mem.pkl", needle});
  }
  ScanRun run;
  expect_error([&] { run(B("\x97.")); }, ErrorCode::Unsupported, {"out-of-band"});
}

TEST(PickleReader, AllowedConstructors) {
  ScanRun run;
  // OrderedDict([('a', 1)]), torch.Size((2, 3)), _codecs.encode('\xe9', 'latin1')
  const Value* v = run(B("(ccollections\nOrderedDict\n((X\x01\x00\x00\x00" "aK\x01tl\x85R"
                         "ctorch\nSize\n(K\x02K\x03t\x85R"
                         "c_codecs\nencode\nX\x02\x00\x00\x00\xc3\xa9X\x06\x00\x00\x00latin1\x86Rt."));
  ASSERT_EQ(v->kind, Kind::Tuple);
  ASSERT_EQ(v->items.size(), 3u);
  EXPECT_EQ(v->items[0]->kind, Kind::Dict);
  EXPECT_EQ(gen::io::pickle::dict_get(v->items[0], "a")->i, 1);
  EXPECT_EQ(v->items[1]->kind, Kind::Tuple);
  EXPECT_EQ(v->items[1]->items.size(), 2u);
  EXPECT_EQ(v->items[2]->kind, Kind::Bytes);
  EXPECT_EQ(v->items[2]->s, "\xe9");
}

TEST(PickleReader, DeepNestingIsBounded) {
  std::vector<std::uint8_t> bytes(200000, '(');
  bytes.push_back('N');
  bytes.push_back('.');
  ScanRun run;
  const Value* v = run(bytes);
  EXPECT_EQ(v->kind, Kind::None);
  std::vector<std::uint8_t> lists;
  for (int k = 0; k < 100000; ++k) lists.push_back(']');
  for (int k = 0; k < 99999; ++k) lists.push_back('a');
  lists.push_back('.');
  ScanRun run2;
  EXPECT_EQ(run2(lists)->kind, Kind::List);
}

TEST(PickleReader, SelfRepeatingTupleKeyIsBounded) {
  // t = (); then t = (t, t) n times: 2^n empty tuples in 2n bytes. Spelled out, the
  // identity of n = 20 would be megabytes (n = 30: a hang); past 64 KiB a tuple gets
  // none, so it is a dict key of its own and not a set item.
  const auto tuple = [](int n) {
    std::vector<std::uint8_t> b = {')'};
    for (int k = 0; k < n; ++k) b.insert(b.end(), {'2', 0x86});
    return b;
  };
  for (int n : {13, 20, 30}) {
    SCOPED_TRACE(n);
    std::vector<std::uint8_t> dict = {'}'};
    for (std::uint8_t c : tuple(n)) dict.push_back(c);
    dict.insert(dict.end(), {'N', 's', '.'});
    ScanRun run;
    const Value* d = run(dict);
    ASSERT_EQ(d->kind, Kind::Dict);
    ASSERT_EQ(d->items.size(), 2u);
    const std::string id = gen::io::pickle::key_identity(d->items[0]);
    if (n == 13) EXPECT_EQ(id.size(), 2u * ((1u << 14) - 1));  // still spelled out
    else EXPECT_TRUE(id.empty()) << id.size() << " bytes";
  }
  std::vector<std::uint8_t> set = {'('};
  for (std::uint8_t c : tuple(30)) set.push_back(c);
  set.insert(set.end(), {0x91, '.'});
  ScanRun run;
  expect_error([&] { run(set); }, ErrorCode::InvalidFormat, {"unhashable set item"});
}

// --- torch.save files -----------------------------------------------------------

TEST(PickleCheckpoint, GoodFilesMatchTorch) {
  const auto& files = expected_values()["files"];
  ASSERT_GE(files.size(), 5u);
  for (const auto& [file, exp] : files.items()) {
    SCOPED_TRACE(file);
    const gen::io::TorchCheckpoint c = gen::io::read_torch_checkpoint(pickle_fixture(file));
    EXPECT_EQ(c.root, exp["root"].get<std::string>());
    std::set<std::string> dropped, want_dropped;
    for (const auto& d : c.dropped) dropped.insert(d.name);
    for (const auto& d : exp["dropped"]) want_dropped.insert(d.get<std::string>());
    EXPECT_EQ(dropped, want_dropped);
    const auto tensors = by_name(c);
    EXPECT_EQ(tensors.size(), exp["tensors"].size());
    for (const auto& [name, e] : exp["tensors"].items()) {
      SCOPED_TRACE(name);
      auto it = tensors.find(name);
      ASSERT_NE(it, tensors.end());
      const gen::io::TorchTensor& t = *it->second;
      EXPECT_EQ(gen::dtype_name(t.dtype), e["dtype"].get<std::string>());
      EXPECT_EQ(t.shape, e["shape"].get<std::vector<std::int64_t>>());
      std::vector<std::uint8_t> scratch;
      const std::uint8_t* data = gen::io::torch_tensor_bytes(c, t, scratch);
      EXPECT_EQ(fnv1a64(data, t.nbytes()), e["fnv"].get<std::string>());
    }
    EXPECT_NO_THROW(gen::io::verify_torch_storages(c));
  }
}

TEST(PickleCheckpoint, ViewsShareStorage) {
  const gen::io::TorchCheckpoint c = gen::io::read_torch_checkpoint(pickle_fixture("views.pt"));
  const auto t = by_name(c);
  ASSERT_TRUE(t.count("base") && t.count("transposed") && t.count("col") && t.count("expanded"));
  EXPECT_EQ(t.at("base")->storage_key, t.at("transposed")->storage_key);
  EXPECT_EQ(t.at("head")->storage_key, t.at("tail")->storage_key);
  EXPECT_FALSE(t.at("transposed")->contiguous());
  EXPECT_EQ(t.at("expanded")->stride[0], 0);
  EXPECT_EQ(t.at("row")->offset, 12u);
  EXPECT_TRUE(t.at("nested.list.1") != nullptr);
}

TEST(PickleCheckpoint, MadeCheckpointReads) {
  // The hand-made pickles below are valid: one tensor, then 2^4 paths to it.
  const std::string w = S("\x80\x02}X\x01\x00\x00\x00w") + tensor_v2("(K\x04K\x04t", "(K\x04K\x01t") + "s";
  EXPECT_EQ(read_made_checkpoint(w + ".").tensors.size(), 1u);
  const std::string a = S("X\x01\x00\x00\x00" "a"), b = S("X\x01\x00\x00\x00" "b");
  const gen::io::TorchCheckpoint c = read_made_checkpoint(w + repeat_levels(4, a, b) + ".");
  ASSERT_EQ(c.tensors.size(), 16u);
  EXPECT_EQ(c.tensors[5].name, "a.b.a.b.w");
}

TEST(PickleCheckpoint, RepeatedContainersAreBounded) {
  // {'a': d, 'b': d} nested 16 times over one tensor: 65536 tensors from 400 bytes. The
  // walk may visit 16 containers a byte of pickle (its limit was 4M visits: 20 s on 21 levels).
  const std::string w = S("\x80\x02}X\x01\x00\x00\x00w") + tensor_v2("(K\x04t", "(K\x01t") + "s";
  const std::string a = S("X\x01\x00\x00\x00" "a"), b = S("X\x01\x00\x00\x00" "b");
  expect_error([&] { read_made_checkpoint(w + repeat_levels(16, a, b) + "."); }, ErrorCode::InvalidFormat,
               {"made.pt", "refer to each other too many times"});
  // Few paths but long names: two 4000-byte keys (memo 1 and 2), 10 levels: 1024 names of 40 KB.
  const std::string long_keys = S("X\xa0\x0f\x00\x00") + std::string(4000, 'k') + S("q\x01" "0X\xa0\x0f\x00\x00") +
                                std::string(4000, 'K') + S("q\x02" "0");
  expect_error([&] { read_made_checkpoint(S("\x80\x02") + long_keys + w.substr(2) + repeat_levels(10, S("h\x01"), S("h\x02")) + "."); },
               ErrorCode::InvalidFormat, {"made.pt", "names add up"});
}

TEST(PickleCheckpoint, ExpandedViewsAreBounded) {
  // One float expanded to 2^20 x 2^20 (stride 0): 4 TiB once copied out by torch_tensor_bytes.
  const std::string big = S("\x80\x02}X\x01\x00\x00\x00w") +
                          tensor_v2(S("(J\x00\x00\x10\x00J\x00\x00\x10\x00t"), S("(K\x00K\x00t")) + "s.";
  expect_error([&] { read_made_checkpoint(big); }, ErrorCode::Unsupported, {"made.pt", "'w'", "expand or repeat"});
  // Small expansions still read (views.pt's 'expanded' is one), and their bytes are gathered.
  const std::string small = S("\x80\x02}X\x01\x00\x00\x00w") + tensor_v2("(K\x40K\x10t", S("(K\x00K\x01t")) + "s.";
  const gen::io::TorchCheckpoint c = read_made_checkpoint(small);
  ASSERT_EQ(c.tensors.size(), 1u);
  std::vector<std::uint8_t> scratch;
  gen::io::torch_tensor_bytes(c, c.tensors[0], scratch);
  EXPECT_EQ(scratch.size(), 64u * 16u * 4u);
}

TEST(PickleCheckpoint, HostileAndUnsupportedFilesRefused) {
  struct Case {
    const char* file;
    ErrorCode code;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"malicious_reduce.pt", ErrorCode::UnsafeContent, {"malicious_reduce.pt", "posix.system"}},
      {"malicious_eval.pt", ErrorCode::UnsafeContent, {"malicious_eval.pt", "builtins.eval"}},
      {"user_class.pt", ErrorCode::UnsafeContent, {"user_class.pt", "__main__.Config"}},
      {"numpy_entry.pt", ErrorCode::UnsafeContent, {"numpy_entry.pt", "numpy", "_reconstruct"}},
      {"legacy.pt", ErrorCode::Unsupported, {"legacy.pt", "legacy", "torch.save"}},
      {"tensor_only.pt", ErrorCode::Unsupported, {"single unnamed tensor"}},
      {"bare.pkl", ErrorCode::Unsupported, {"bare pickle"}},
      {"truncated.pt", ErrorCode::InvalidFormat, {"truncated.pt"}},
      {"deflated.pt", ErrorCode::Unsupported, {"deflate", "'plain_fp32/"}},
      {"nope.pt", ErrorCode::NotFound, {"nope.pt"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    expect_error([&] { gen::io::read_torch_checkpoint(pickle_fixture(c.file)); }, c.code, c.needles);
  }
  const gen::io::TorchCheckpoint none = gen::io::read_torch_checkpoint(pickle_fixture("no_tensors.pt"));
  EXPECT_TRUE(none.tensors.empty());
  EXPECT_EQ(none.dropped.size(), 2u);
}

TEST(PickleCheckpoint, EveryTruncationIsAnError) {
  for (const char* file : {"views.pt", "ldm.ckpt"}) {
    const auto bytes = read_bytes(pickle_fixture(file));
    for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
      try {
        auto zip = std::make_shared<gen::io::ZipReader>(gen::io::ZipReader::from_memory(bytes.data(), cut, "cut.pt"));
        gen::io::read_torch_checkpoint(zip);
        ADD_FAILURE() << file << " cut at " << cut << " was accepted";
      } catch (const gen::Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::InvalidFormat) << e.what();
      }
    }
  }
}

TEST(PickleCheckpoint, PickleCutsAndFlipsNeverCrash) {
  const auto file = read_bytes(pickle_fixture("views.pt"));
  const auto zip = std::make_shared<gen::io::ZipReader>(gen::io::ZipReader::from_memory(file.data(), file.size(), "views.pt"));
  const gen::io::ZipEntry& e = zip->entry("views/data.pkl");
  const std::vector<std::uint8_t> pkl(zip->data(e), zip->data(e) + e.size);
  for (std::size_t cut = 0; cut < pkl.size(); ++cut) {
    gen::io::pickle::Arena arena;
    gen::io::torchpk::TorchHooks hooks("views.pt", zip.get(), "views/");
    expect_error([&] { gen::io::pickle::run_pickle(pkl.data(), cut, arena, hooks, "views.pt", "data.pkl"); },
                 ErrorCode::InvalidFormat);
  }
  std::size_t accepted = 0;
  for (std::size_t k = 0; k < pkl.size(); ++k) {
    for (std::uint8_t x : {0x01, 0x10, 0x80, 0xFF}) {
      auto bytes = pkl;
      bytes[k] ^= x;
      gen::io::pickle::Arena arena;
      gen::io::torchpk::TorchHooks hooks("views.pt", zip.get(), "views/");
      try {
        gen::io::pickle::run_pickle(bytes.data(), bytes.size(), arena, hooks, "views.pt", "data.pkl");
        ++accepted;
      } catch (const gen::Error& err) {
        EXPECT_NE(err.code(), ErrorCode::Internal) << err.what();
      }
    }
  }
  RecordProperty("accepted_flips", static_cast<int>(accepted));
}
