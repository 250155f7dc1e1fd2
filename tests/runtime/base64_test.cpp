#include "src/runtime/base64.h"

#include <gtest/gtest.h>

namespace sbx {
namespace {

TEST(Base64, EncodesTheRfc4648VectorsInBothAlphabets) {
  EXPECT_EQ(encode_base64(""), "");
  EXPECT_EQ(encode_base64("f"), "Zg==");
  EXPECT_EQ(encode_base64("fo"), "Zm8=");
  EXPECT_EQ(encode_base64("foo"), "Zm9v");
  EXPECT_EQ(encode_base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(encode_base64("\xfb\xff"), "+/8=");
  EXPECT_EQ(encode_base64("\xfb\xff", Base64Alphabet::kUrl), "-_8=");
}

TEST(Base64, DecodingUndoesEncoding) {
  const std::string bytes = std::string("user:p\0w\xff", 9) + "more";
  EXPECT_EQ(decode_base64(encode_base64(bytes)), bytes);
  EXPECT_EQ(decode_base64("Zm9v\nYmFy"), "foobar");
  EXPECT_EQ(decode_base64("Zm8"), "fo");  // padding optional
  EXPECT_FALSE(decode_base64("Zm9v!"));
}

}  // namespace
}  // namespace sbx
