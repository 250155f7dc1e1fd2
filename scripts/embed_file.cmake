# Embeds a file in the build as a C++ source defining
#   namespace <NAMESPACE> { extern const unsigned char <SYMBOL>[]; extern const std::size_t <SYMBOL>Size; }
# (the bytes, NUL-terminated; the size without the NUL). Run by a custom command:
#   cmake -DINPUT=<file> -DOUTPUT=<.cpp> -DSYMBOL=<name> -DNAMESPACE=<ns> [-DJSON=ON]
#         -P scripts/embed_file.cmake
# With JSON=ON the file must parse as JSON (the build fails naming the error otherwise).
# The output is rewritten only when its content changes.
foreach(var INPUT OUTPUT SYMBOL NAMESPACE)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: ${var} is not set")
  endif()
endforeach()

file(READ "${INPUT}" text)
if(JSON)
  string(JSON kind ERROR_VARIABLE json_error TYPE "${text}")
  if(json_error)
    message(FATAL_ERROR "${INPUT} is not valid JSON: ${json_error}")
  endif()
endif()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
# Sixteen bytes per line: "0x7b,0x0a,..."
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REPEAT "0x[0-9a-f][0-9a-f]," 16 sixteen)  # CMake regexes have no {n}
string(REGEX REPLACE "(${sixteen})" "\\1\n  " bytes "${bytes}")

cmake_path(GET INPUT FILENAME source_name)
set(content "// Generated from ${source_name} by scripts/embed_file.cmake. Do not edit.
#include <cstddef>

namespace ${NAMESPACE} {

extern const unsigned char ${SYMBOL}[];
extern const std::size_t ${SYMBOL}Size;

const unsigned char ${SYMBOL}[] = {
  ${bytes}0x00};
const std::size_t ${SYMBOL}Size = ${size};

}  // namespace ${NAMESPACE}
")

if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
  if(old STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
