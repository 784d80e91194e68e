// test_io.cpp: atomic file writes, the safetensors format (byte layout, round trips, corrupt files, and the
// Hugging Face library as an oracle when python3 has it), and the training-plot PNG.
#include <doctest/doctest.h>
#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <stb/stb_image.h>

#include "nn/fileio.h"
#include "nn/safetensors.h"
#include "siglip/plot.h"
#include "tensor/tensor.h"
#include "tests/siglip_run.h"

using namespace sg;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/sg_io_test_XXXXXX";
    char* p = ::mkdtemp(tmpl);
    REQUIRE(p != nullptr);
    path = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all, ec);
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::vector<std::string> list() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
};

void write_raw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s;
}

// A safetensors file from a header text (padded here) and data bytes.
std::string st_file(std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  return le64(header.size()) + header + data;
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const sg::Error& e) {
    return e.what();
  }
  return "<no sg::Error thrown>";
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

template <typename T>
std::vector<T> raw_values(const Tensor& t) {
  Tensor c = t.contiguous();
  std::vector<T> out(static_cast<size_t>(c.numel()));
  if (!out.empty()) std::memcpy(out.data(), c.data_ptr(), out.size() * sizeof(T));
  return out;
}

Tensor bf16_tensor(const std::vector<float>& vals, const Shape& shape) {
  Tensor t = Tensor::empty(shape, DType::BF16);
  for (size_t i = 0; i < vals.size(); ++i) t.data<uint16_t>()[i] = f32_to_bf16(vals[i]);
  return t;
}


}  // namespace

// ------------------------------------------------------------------------------------------ fileio

TEST_CASE("io: write_file_atomic replaces the content and leaves no temp files") {
  TempDir d;
  std::string p = d / "ckpt.bin";
  write_file_atomic(p, "first");
  CHECK(read_file(p) == "first");
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
  write_file_atomic(p, big);
  CHECK(read_file(p) == big);
  write_file_atomic(p, "");
  CHECK(read_file(p).empty());
  CHECK(d.list() == std::vector<std::string>{"ckpt.bin"});
  // A bare relative name (directory ".") works too.
  auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(d.path);
  write_file_atomic("rel.txt", "x");
  std::filesystem::current_path(cwd);
  CHECK(read_file(d / "rel.txt") == "x");
  CHECK(d.list() == std::vector<std::string>{"ckpt.bin", "rel.txt"});
}

TEST_CASE("io: a failed write_file_atomic throws, names the path and keeps the old file") {
  TempDir d;
  SUBCASE("directory does not exist") {
    std::string p = d / "missing_dir/ckpt.bin";
    std::string msg = error_of([&] { write_file_atomic(p, "data"); });
    CHECK(contains(msg, p));
    CHECK(contains(msg, "No such file or directory"));
    CHECK(d.list().empty());
  }
  SUBCASE("rename onto a non-empty directory fails; temp file removed") {
    std::string p = d / "target";
    make_dirs(p + "/inner");
    std::string msg = error_of([&] { write_file_atomic(p, "data"); });
    CHECK(contains(msg, p));
    CHECK(contains(msg, "rename"));
    CHECK(d.list() == std::vector<std::string>{"target"});
    CHECK(std::filesystem::is_directory(p + "/inner"));
  }
  SUBCASE("write fails midway (file size limit); old content intact") {
    std::string p = d / "ckpt.bin";
    write_file_atomic(p, "old content");
    struct rlimit old {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old) == 0);
    auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 4096;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &lim) == 0);
    std::string msg = error_of([&] { write_file_atomic(p, std::string(100000, 'n')); });
    ::setrlimit(RLIMIT_FSIZE, &old);
    ::signal(SIGXFSZ, old_handler);
    CHECK(contains(msg, p));
    CHECK(contains(msg, "write failed"));
    CHECK(read_file(p) == "old content");
    CHECK(d.list() == std::vector<std::string>{"ckpt.bin"});
  }
  SUBCASE("read-only directory") {
    std::string p = d / "ckpt.bin";
    write_file_atomic(p, "old content");
    REQUIRE(::chmod(d.path.c_str(), 0555) == 0);
    // root ignores directory permissions: detect that and say so instead of pretending.
    bool enforced = ::access(d.path.c_str(), W_OK) != 0;
    if (!enforced) {
      MESSAGE("running as root: directory permissions are not enforced, read-only case not testable here");
    } else {
      std::string msg = error_of([&] { write_file_atomic(p, "new"); });
      CHECK(contains(msg, p));
      CHECK(contains(msg, "Permission denied"));
      CHECK(read_file(p) == "old content");
    }
    ::chmod(d.path.c_str(), 0755);
    CHECK(d.list() == std::vector<std::string>{"ckpt.bin"});
  }
}

TEST_CASE("io: read_file, append_line, make_dirs, file_exists") {
  TempDir d;
  std::string missing = d / "nope.txt";
  CHECK(!file_exists(missing));
  std::string msg = error_of([&] { read_file(missing); });
  CHECK(contains(msg, missing));
  CHECK(contains(msg, "No such file"));
  CHECK(contains(error_of([&] { read_file(d.path); }), d.path));

  std::string m = d / "run/a/b/metrics.jsonl";
  make_dirs(d / "run/a/b");
  make_dirs(d / "run/a/b");  // idempotent
  make_dirs("");
  CHECK(file_exists(d / "run/a/b"));
  append_line(m, R"({"step": 1})");
  append_line(m, R"({"step": 2})");
  CHECK(read_file(m) == "{\"step\": 1}\n{\"step\": 2}\n");
  CHECK(file_exists(m));
  CHECK(contains(error_of([&] { make_dirs(m + "/sub"); }), m));
  CHECK(contains(error_of([&] { append_line(d / "no/such/dir/x.jsonl", "x"); }), d / "no/such/dir/x.jsonl"));
}

// ------------------------------------------------------------------------------------------ safetensors

TEST_CASE("io: safetensors round trip of F32, F64, I64, BF16, views and metadata") {
  TempDir d;
  std::string p = d / "model.safetensors";
  Tensor f32 = from_vector(std::vector<float>{-1.5f, 0.f, 2.25f, 1e-30f, -3e20f, 7.f}, {2, 3});
  Tensor f64 = from_vector(std::vector<double>{1.0 / 3.0, -2.5, 1e300, -0.0}, {4}, DType::F64);
  Tensor i64 = from_vector(std::vector<int64_t>{-5, 0, int64_t(1) << 40, std::numeric_limits<int64_t>::min()}, {2, 2});
  Tensor bf = bf16_tensor({1.f, -2.f, 0.5f, 3.140625f, 65280.f, -0.f}, {3, 2});
  Tensor base = from_vector(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor tr = base.transpose(0, 1);  // [4, 3], non-contiguous
  REQUIRE(!tr.is_contiguous());
  Tensor sl = base.slice(1, 1, 4, 2);  // [3, 2], strided
  Tensor sc = scalar(4.5, DType::F64);
  Tensor empty = Tensor::empty({0, 5});
  std::map<std::string, std::string> md{{"format", "pt"}, {"step", "42"}, {"note", "ünïcode {} \"q\""}};
  save_safetensors(p,
                   {{"z.f32", f32}, {"a.f64", f64}, {"m.i64", i64}, {"bf", bf}, {"tr", tr}, {"sl", sl},
                    {"scalar", sc}, {"empty", empty}},
                   md);
  CHECK(d.list() == std::vector<std::string>{"model.safetensors"});

  std::map<std::string, std::string> md2{{"stale", "x"}};
  auto got = load_safetensors(p, &md2);
  CHECK(md2 == md);
  REQUIRE(got.size() == 8);
  auto same = [&](const std::string& name, const Tensor& want) {
    CAPTURE(name);
    REQUIRE(got.count(name) == 1);
    const Tensor& t = got.at(name);
    CHECK(t.dtype() == want.dtype());
    CHECK(t.shape() == want.shape());
    CHECK(t.is_contiguous());
    CHECK(t.device() == Device::CPU);
    Tensor w = want.contiguous();
    size_t nbytes = static_cast<size_t>(w.numel()) * dtype_size(w.dtype());
    CHECK(std::memcmp(t.data_ptr(), w.data_ptr(), nbytes) == 0);
  };
  same("z.f32", f32);
  same("a.f64", f64);
  same("m.i64", i64);
  same("bf", bf);
  same("tr", tr);
  same("sl", sl);
  same("scalar", sc);
  same("empty", empty);
  CHECK(raw_values<float>(got.at("tr")) == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  CHECK(raw_values<float>(got.at("sl")) == std::vector<float>{1, 3, 5, 7, 9, 11});
  CHECK(got.at("scalar").dim() == 0);
  CHECK(got.at("scalar").item() == 4.5);
  CHECK(std::signbit(raw_values<double>(got.at("a.f64"))[3]));
  CHECK(raw_values<uint16_t>(got.at("bf"))[3] == f32_to_bf16(3.140625f));

  // No metadata: no __metadata__ key; a metadata map passed in comes back empty.
  save_safetensors(p, {{"x", f32}});
  std::string bytes = read_file(p);
  CHECK(!contains(bytes, "__metadata__"));
  load_safetensors(p, &md2);
  CHECK(md2.empty());
  // An empty file list is a valid file.
  save_safetensors(p, {});
  CHECK(load_safetensors(p).empty());
}

TEST_CASE("io: safetensors byte layout matches the Hugging Face format") {
  TempDir d;
  std::string p = d / "tiny.safetensors";
  // Given out of order: the data must follow the sorted names ("a" then "b").
  Tensor b = from_vector(std::vector<int64_t>{7, -1}, {2});
  Tensor a = from_vector(std::vector<float>{1.0f, -2.0f, 0.5f}, {1, 3});
  save_safetensors(p, {{"b", b}, {"a", a}}, {{"format", "pt"}});
  std::string bytes = read_file(p);
  REQUIRE(bytes.size() >= 8);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  CHECK(n % 8 == 0);
  REQUIRE(8 + n + 12 + 16 == bytes.size());
  std::string header = bytes.substr(8, n);
  CHECK(header.front() == '{');
  size_t close = header.find_last_of('}');
  CHECK(header.find_first_not_of(' ', close + 1) == std::string::npos);  // padding is spaces only
  CHECK(n - (close + 1) < 8);
  CHECK(header.substr(0, close + 1) ==
        R"({"__metadata__":{"format":"pt"},"a":{"data_offsets":[0,12],"dtype":"F32","shape":[1,3]},)"
        R"("b":{"data_offsets":[12,28],"dtype":"I64","shape":[2]}})");
  auto j = nlohmann::json::parse(header);
  CHECK(j.size() == 3);
  CHECK(j["a"]["dtype"] == "F32");
  CHECK(j["a"]["shape"] == nlohmann::json::array({1, 3}));
  CHECK(j["a"]["data_offsets"] == nlohmann::json::array({0, 12}));
  CHECK(j["b"]["dtype"] == "I64");
  CHECK(j["b"]["data_offsets"] == nlohmann::json::array({12, 28}));
  CHECK(j["__metadata__"]["format"] == "pt");
  const unsigned char want[28] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f,  // a
                                  0x07, 0,    0,    0,    0,    0,    0,    0,                             // b[0]
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};                       // b[1]
  CHECK(std::memcmp(bytes.data() + 8 + n, want, 28) == 0);

  // The dtype strings of the other two types.
  save_safetensors(p, {{"h", bf16_tensor({1.f}, {1})}, {"d", scalar(1.0, DType::F64)}});
  bytes = read_file(p);
  CHECK(contains(bytes, R"("d":{"data_offsets":[0,8],"dtype":"F64","shape":[]})"));
  CHECK(contains(bytes, R"("h":{"data_offsets":[8,10],"dtype":"BF16","shape":[1]})"));
  CHECK(bytes.substr(bytes.size() - 2) == std::string("\x80\x3f", 2));
}

TEST_CASE("io: save_safetensors rejects bad names and undefined tensors") {
  TempDir d;
  std::string p = d / "bad.safetensors";
  Tensor t = ones({2});
  std::string msg = error_of([&] { save_safetensors(p, {{"w", t}, {"v", t}, {"w", t}}); });
  CHECK(contains(msg, p));
  CHECK(contains(msg, "'w' appears more than once"));
  CHECK(contains(error_of([&] { save_safetensors(p, {{"__metadata__", t}}); }), "reserved"));
  CHECK(contains(error_of([&] { save_safetensors(p, {{"", t}}); }), "empty name"));
  CHECK(contains(error_of([&] { save_safetensors(p, {{"u", Tensor()}}); }), "undefined"));
  CHECK(contains(error_of([&] { save_safetensors(p, {{std::string("bad\xff"), t}}); }), "UTF-8"));
  CHECK(d.list().empty());
}

TEST_CASE("io: corrupt safetensors files give an sg::Error naming the file") {
  TempDir d;
  std::string p = d / "model.safetensors";
  const std::string f32x2 = R"("dtype":"F32","shape":[2])";
  auto expect = [&](const std::string& bytes, const std::string& phrase) {
    write_raw(p, bytes);
    std::string msg = error_of([&] { load_safetensors(p); });
    CAPTURE(msg);
    CHECK(contains(msg, "safetensors: " + p + ": "));
    CHECK(contains(msg, phrase));
  };
  std::string good = st_file(R"({"w":{)" + f32x2 + R"(,"data_offsets":[0,8]}})", std::string(8, '\1'));
  write_raw(p, good);
  CHECK(load_safetensors(p).at("w").shape() == Shape{2});

  SUBCASE("missing file") {
    std::string msg = error_of([&] { load_safetensors(d / "absent.safetensors"); });
    CHECK(contains(msg, d / "absent.safetensors"));
    CHECK(contains(msg, "No such file"));
  }
  SUBCASE("shorter than 8 bytes") { expect("abc", "shorter than the 8-byte header length"); }
  SUBCASE("empty file") { expect("", "file is 0 bytes"); }
  SUBCASE("header length past the end") { expect(le64(1000) + "{}      ", "header length 1000 runs past the end"); }
  SUBCASE("huge header length") { expect(le64(~uint64_t(0)) + "{}", "runs past the end"); }
  SUBCASE("truncated data") { expect(good.substr(0, good.size() - 3), "data_offsets [0, 8] run past the end"); }
  SUBCASE("truncated header") { expect(good.substr(0, 20), "runs past the end"); }
  SUBCASE("bad JSON") { expect(st_file(R"({"w":{"dtype":)", ""), "header is not valid JSON"); }
  SUBCASE("not an object") { expect(st_file("[1, 2]", ""), "header must be a JSON object"); }
  SUBCASE("entry not an object") { expect(st_file(R"({"w": 3})", ""), "tensor 'w': entry must be an object"); }
  SUBCASE("unknown dtype") {
    expect(st_file(R"({"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", std::string(4, '\0')),
           "tensor 'w': dtype 'F16' is not supported");
  }
  SUBCASE("missing field") {
    expect(st_file(R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", std::string(8, '\0')), "missing \"shape\"");
  }
  SUBCASE("negative shape") {
    expect(st_file(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", std::string(8, '\0')),
           "non-negative integers");
  }
  SUBCASE("offsets out of range") {
    expect(st_file(R"({"w":{)" + f32x2 + R"(,"data_offsets":[0,16]}})", std::string(8, '\0')),
           "tensor 'w': data_offsets [0, 16] run past the end of the data (8 bytes)");
  }
  SUBCASE("offsets reversed") {
    expect(st_file(R"({"w":{)" + f32x2 + R"(,"data_offsets":[8,0]}})", std::string(8, '\0')), "end before they begin");
  }
  SUBCASE("offsets malformed") {
    expect(st_file(R"({"w":{)" + f32x2 + R"(,"data_offsets":[0]}})", std::string(8, '\0')),
           "data_offsets must be [begin, end]");
    expect(st_file(R"({"w":{)" + f32x2 + R"(,"data_offsets":[-8,0]}})", std::string(8, '\0')),
           "data_offsets must be [begin, end]");
  }
  SUBCASE("size does not match shape x dtype") {
    std::string path2 = d / "model2.safetensors";
    write_raw(path2, st_file(R"({"vision_model.head.probe":{"dtype":"F32","shape":[1,1,192],"data_offsets":[0,100]}})",
                             std::string(100, '\0')));
    std::string msg = error_of([&] { load_safetensors(path2); });
    CHECK(contains(msg, "safetensors: " + path2 +
                            ": tensor 'vision_model.head.probe': data_offsets [0, 100] hold 100 bytes, shape "
                            "[1, 1, 192] float32 needs 768"));
  }
  SUBCASE("overlapping tensors") {
    expect(st_file(R"({"a":{)" + f32x2 + R"(,"data_offsets":[0,8]},"b":{)" + f32x2 + R"(,"data_offsets":[4,12]}})",
                   std::string(12, '\0')),
           "tensors 'a' [0, 8] and 'b' [4, 12] overlap");
  }
  SUBCASE("bad metadata") {
    expect(st_file(R"({"__metadata__":{"k":1}})", ""), "__metadata__ value of 'k' must be a string");
    expect(st_file(R"({"__metadata__":[1]})", ""), "__metadata__ must be an object");
  }
  SUBCASE("shape overflow") {
    expect(st_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})",
                   std::string(8, '\0')),
           "too large");
  }
  SUBCASE("an empty tensor whose other sizes overflow its strides") {  // fuzz/corpus/fuzz_safetensors/bad_huge_empty_shape
    expect(st_file(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}})",
                   ""),
           "tensor 'w': shape [0,4611686018427387904,4611686018427387904] is too large");
    write_raw(p, st_file(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904],"data_offsets":[0,0]}})", ""));
    CHECK(load_safetensors(p).at("w").shape() == Shape{0, 4611686018427387904});
  }
}

TEST_CASE("io: safetensors files are read and written correctly by the Hugging Face library (python oracle)") {
  if (const std::string why = oracle_missing("numpy, safetensors, safetensors.numpy"); !why.empty()) {
    MESSAGE("SKIPPED: ", why);
    return;
  }
  TempDir d;
  std::string ours = d / "ours.safetensors", theirs = d / "theirs.safetensors", script = d / "check.py";
  Tensor base = from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  save_safetensors(ours,
                   {{"f32", from_vector(std::vector<float>{-1.f, -0.5f, 0.f, 0.5f, 1.f, 1.5f}, {2, 3})},
                    {"f64", from_vector(std::vector<double>{0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0}, {4}, DType::F64)},
                    {"i64", from_vector(std::vector<int64_t>{-5, 0, int64_t(1) << 40}, {3})},
                    {"bf16", bf16_tensor({1.f, -2.f, 0.5f, 3.f}, {2, 2})},
                    {"tr", base.transpose(0, 1)},
                    {"s", scalar(2.5, DType::F64)}},
                   {{"format", "pt"}, {"step", "42"}});
  write_file_atomic(script, R"PY(
import sys, numpy as np
from safetensors import deserialize, safe_open
from safetensors.numpy import load_file, save_file
ours, theirs = sys.argv[1], sys.argv[2]
raw = dict(deserialize(open(ours, "rb").read()))     # full validation by the Rust reader
assert sorted(raw) == ["bf16", "f32", "f64", "i64", "s", "tr"], sorted(raw)
assert raw["bf16"]["dtype"] == "BF16" and list(raw["bf16"]["shape"]) == [2, 2], raw["bf16"]
bf = (np.frombuffer(bytes(raw["bf16"]["data"]), "<u2").astype(np.uint32) << 16).view(np.float32)
assert bf.tolist() == [1.0, -2.0, 0.5, 3.0], bf
with safe_open(ours, framework="numpy") as f:
    assert f.metadata() == {"format": "pt", "step": "42"}, f.metadata()
    def get(k): return f.get_tensor(k)
    a = get("f32"); assert a.dtype == np.float32 and a.shape == (2, 3) and a.tolist() == [[-1, -0.5, 0], [0.5, 1, 1.5]], a
    b = get("f64"); assert b.dtype == np.float64 and b.tolist() == [0.0, 1/3, 2/3, 1.0], b
    c = get("i64"); assert c.dtype == np.int64 and c.tolist() == [-5, 0, 1 << 40], c
    t = get("tr"); assert t.dtype == np.float32 and t.tolist() == [[0, 3], [1, 4], [2, 5]], t
    s = get("s"); assert s.dtype == np.float64 and s.shape == () and float(s) == 2.5, s
save_file({"w": np.arange(6, dtype=np.float32).reshape(2, 3) * 0.25 - 0.5,
           "idx": np.array([3, -1, 1 << 50], dtype=np.int64),
           "d": np.array([[1e-300], [-7.0]], dtype=np.float64),
           "e": np.zeros((0, 4), dtype=np.float32)}, theirs, metadata={"k": "v", "epoch": "3"})
print("python oracle OK")
)PY");
  const SiglipRun py = run_shell(kOraclePython + " " + script + " " + ours + " " + theirs);
  INFO("python output: ", py.output);
  REQUIRE(py.status == 0);
  CHECK(contains(py.output, "python oracle OK"));

  std::map<std::string, std::string> md;
  auto got = load_safetensors(theirs, &md);
  CHECK(md == std::map<std::string, std::string>{{"k", "v"}, {"epoch", "3"}});
  REQUIRE(got.size() == 4);
  CHECK(got.at("w").dtype() == DType::F32);
  CHECK(got.at("w").shape() == Shape{2, 3});
  CHECK(got.at("w").to_vector<float>() == std::vector<float>{-0.5f, -0.25f, 0.f, 0.25f, 0.5f, 0.75f});
  CHECK(got.at("idx").dtype() == DType::I64);
  CHECK(got.at("idx").to_vector<int64_t>() == std::vector<int64_t>{3, -1, int64_t(1) << 50});
  CHECK(got.at("d").dtype() == DType::F64);
  CHECK(got.at("d").shape() == Shape{2, 1});
  CHECK(got.at("d").to_vector<double>() == std::vector<double>{1e-300, -7.0});
  CHECK(got.at("e").shape() == Shape{0, 4});
}

// ------------------------------------------------------------------------------------------ plot

TEST_CASE("io: write_training_plot writes a readable 900x600 PNG") {
  TempDir d;
  auto check_png = [&](const std::string& p) {
    std::string bytes = read_file(p);
    REQUIRE(bytes.size() > 8);
    CHECK(bytes.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
    int w = 0, h = 0, comp = 0;
    unsigned char* px = stbi_load_from_memory(reinterpret_cast<const unsigned char*>(bytes.data()),
                                              static_cast<int>(bytes.size()), &w, &h, &comp, 3);
    REQUIRE(px != nullptr);
    CHECK(w == 900);
    CHECK(h == 600);
    CHECK(comp == 3);
    std::map<std::string, int> counts;  // coloured pixels: the curves (blue loss, orange t, green b)
    for (int i = 0; i < w * h; ++i) {
      unsigned char r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
      if (r == 31 && g == 119 && b == 180) counts["loss"]++;
      if (r == 230 && g == 110 && b == 0) counts["t"]++;
      if (r == 34 && g == 150 && b == 34) counts["b"]++;
      if (r == 0 && g == 0 && b == 0) counts["black"]++;
    }
    stbi_image_free(px);
    return counts;
  };

  std::vector<double> steps, loss, t, b;
  for (int i = 0; i <= 500; ++i) {
    steps.push_back(i * 10);
    loss.push_back(std::log(64.0) * std::exp(-i / 100.0) + 0.1);
    t.push_back(10.0 + i * 0.01);
    b.push_back(-10.0 + i * 0.005);
  }
  loss[250] = std::nan("");  // a gap in the curve
  t[100] = std::numeric_limits<double>::infinity();
  std::string p = d / "plot.png";
  auto c = check_png((write_training_plot(p, steps, loss, t, b), p));
  CHECK(c["loss"] > 900);  // the curve crosses the whole panel
  CHECK(c["t"] > 900);
  CHECK(c["b"] > 900);
  CHECK(c["black"] > 3000);  // axes and labels

  // Degenerate inputs still give a valid PNG.
  write_training_plot(p, {}, {}, {}, {});
  check_png(p);
  write_training_plot(p, {1, 2, 3}, {NAN, NAN, NAN}, {}, {});
  check_png(p);
  write_training_plot(p, {5}, {0.7}, {10}, {-10});  // one point, constant ranges
  c = check_png(p);
  CHECK(c["loss"] > 0);
  write_training_plot(p, {0, 1, 2, 3}, {1e-7, 2e-7, 1.5e-7, 1e-7}, {1e9, 1e9, 1e9, 1e9}, {1, 2});  // odd scales
  check_png(p);
  CHECK(d.list() == std::vector<std::string>{"plot.png"});
  CHECK(contains(error_of([&] { write_training_plot(d / "no/dir/plot.png", steps, loss, t, b); }), "no/dir/plot.png"));
}
