// Reply: builds RESP replies into a byte string, in RESP2 or RESP3 (chosen
// per connection by HELLO). Types RESP2 lacks fall back as Redis does: a
// map becomes a flat array of key/value pairs, a set an array, a boolean
// the integer 0 or 1, a null "$-1" (or "*-1" for a null array), verbatim
// text a bulk string.
//
// Thread-safety: a value.
#ifndef DELTAKV_RESP_REPLY_H_
#define DELTAKV_RESP_REPLY_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace deltakv::resp {

class Reply {
 public:
  explicit Reply(int protocol = 2) : resp3_(protocol >= 3) {}

  // "+text": `text` must not hold CR or LF (they are replaced by spaces).
  void Simple(std::string_view text);
  // "-CODE message": `text` starts with the error code ("ERR ...",
  // "WRONGTYPE ..."); CR and LF are replaced by spaces.
  void Error(std::string_view text);
  void Integer(int64_t v);
  void Bulk(std::string_view bytes);
  void Null();       // a missing value
  void NullArray();  // a missing array
  void Array(size_t n);
  void Map(size_t pairs);
  void Set(size_t n);
  void Bool(bool v);
  void Verbatim(std::string_view text);  // "txt" verbatim text

  bool resp3() const { return resp3_; }
  std::string& bytes() { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Line(char type, std::string_view text);
  void Length(char type, uint64_t n);

  bool resp3_;
  std::string out_;
};

}  // namespace deltakv::resp

#endif  // DELTAKV_RESP_REPLY_H_
