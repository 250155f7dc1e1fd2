// Fuzz target: decoding of stored events and of sandbox and pool projection records
// (events/codec.h). Any bytes: decode_event, decode_sandbox and decode_pool never crash,
// throw or hang (they answer kDataLoss). For bytes that decode:
// decode(encode(decode(x))) == decode(x), and encoding is stable
// (encode(decode(encode(d))) == encode(d)): what the store wrote, it reads back unchanged,
// whatever schema version or field order the input had.
#include <cstdint>
#include <string>
#include <string_view>

#include "events/codec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sbx;
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto e = decode_event(in)) {
    FUZZ_CHECK(e->schema == current_schema(e->type()), "decoded %s at schema %d, current %d",
               std::string(e->type()).c_str(), e->schema, current_schema(e->type()));
    const std::string once = encode_event(*e);
    auto again = decode_event(once);
    FUZZ_CHECK(again.has_value(), "encode_event wrote what decode_event refuses: %s\n%s",
               again ? "" : again.error().message.c_str(), once.c_str());
    FUZZ_CHECK(*again == *e, "event changed in decode-encode-decode:\n%s", once.c_str());
    FUZZ_CHECK(encode_event(*again) == once, "event encoding unstable:\n%s", once.c_str());
  } else {
    FUZZ_CHECK(e.error().code == ErrorCode::kDataLoss, "decode_event: code %s",
               std::string(to_string(e.error().code)).c_str());
    FUZZ_CHECK(!e.error().message.empty(), "decode_event: empty message");
  }

  if (auto s = decode_sandbox(in)) {
    const std::string once = encode_sandbox(*s);
    auto again = decode_sandbox(once);
    FUZZ_CHECK(again.has_value(), "encode_sandbox wrote what decode_sandbox refuses: %s\n%s",
               again ? "" : again.error().message.c_str(), once.c_str());
    FUZZ_CHECK(*again == *s, "sandbox changed in decode-encode-decode:\n%s", once.c_str());
    FUZZ_CHECK(encode_sandbox(*again) == once, "sandbox encoding unstable:\n%s", once.c_str());
  } else {
    FUZZ_CHECK(s.error().code == ErrorCode::kDataLoss, "decode_sandbox: code %s",
               std::string(to_string(s.error().code)).c_str());
  }
  if (auto p = decode_pool(in)) {
    const std::string once = encode_pool(*p);
    auto again = decode_pool(once);
    FUZZ_CHECK(again.has_value(), "encode_pool wrote what decode_pool refuses: %s\n%s",
               again ? "" : again.error().message.c_str(), once.c_str());
    FUZZ_CHECK(*again == *p, "pool changed in decode-encode-decode:\n%s", once.c_str());
    FUZZ_CHECK(encode_pool(*again) == once, "pool encoding unstable:\n%s", once.c_str());
  } else {
    FUZZ_CHECK(p.error().code == ErrorCode::kDataLoss, "decode_pool: code %s",
               std::string(to_string(p.error().code)).c_str());
  }
  return 0;
}
