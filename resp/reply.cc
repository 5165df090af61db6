#include "resp/reply.h"

namespace deltakv::resp {

void Reply::Line(char type, std::string_view text) {
  out_.push_back(type);
  const size_t at = out_.size();
  out_.append(text);
  for (size_t i = at; i < out_.size(); ++i) {
    if (out_[i] == '\r' || out_[i] == '\n') out_[i] = ' ';
  }
  out_.append("\r\n");
}

void Reply::Length(char type, uint64_t n) {
  out_.push_back(type);
  out_.append(std::to_string(n));
  out_.append("\r\n");
}

void Reply::Simple(std::string_view text) { Line('+', text); }
void Reply::Error(std::string_view text) { Line('-', text); }

void Reply::Integer(int64_t v) {
  out_.push_back(':');
  out_.append(std::to_string(v));
  out_.append("\r\n");
}

void Reply::Bulk(std::string_view bytes) {
  Length('$', bytes.size());
  out_.append(bytes);
  out_.append("\r\n");
}

void Reply::Null() { out_.append(resp3_ ? "_\r\n" : "$-1\r\n"); }
void Reply::NullArray() { out_.append(resp3_ ? "_\r\n" : "*-1\r\n"); }
void Reply::Array(size_t n) { Length('*', n); }
void Reply::Map(size_t pairs) {
  if (resp3_) {
    Length('%', pairs);
  } else {
    Length('*', uint64_t{pairs} * 2);
  }
}
void Reply::Set(size_t n) { Length(resp3_ ? '~' : '*', n); }
void Reply::Bool(bool v) {
  if (resp3_) {
    out_.append(v ? "#t\r\n" : "#f\r\n");
  } else {
    Integer(v ? 1 : 0);
  }
}

void Reply::Verbatim(std::string_view text) {
  if (!resp3_) return Bulk(text);
  Length('=', text.size() + 4);
  out_.append("txt:");
  out_.append(text);
  out_.append("\r\n");
}

}  // namespace deltakv::resp
