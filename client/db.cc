#include "deltakv/db.h"

#include "client/transport.h"
#include "core/utf8.h"

namespace deltakv {

std::unique_ptr<Transport> NewEmbeddedTransport(const Options& options,
                                                Status* status);
std::unique_ptr<Transport> NewRemoteTransport(std::string_view url,
                                              const ConnectOptions& options,
                                              Status* status);

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kCounter:
      return "counter";
    case KeyType::kRegister:
      return "register";
    case KeyType::kSet:
      return "set";
    case KeyType::kList:
      return "list";
  }
  return "unknown";
}

Result<int64_t> CounterHandle::Increment(int64_t by) {
  return t_->CounterIncrement(key_, by);
}
Result<int64_t> CounterHandle::Value() const { return t_->CounterValue(key_); }

Status RegisterHandle::Set(std::string_view value) {
  return t_->RegisterSet(key_, value);
}
Result<RegisterValue> RegisterHandle::Get() const {
  return t_->RegisterGet(key_);
}

Result<uint64_t> SetHandle::Add(const std::vector<std::string>& members) {
  return t_->SetAdd(key_, members);
}
Result<uint64_t> SetHandle::Remove(const std::vector<std::string>& members) {
  return t_->SetRemove(key_, members);
}
Result<bool> SetHandle::Contains(std::string_view member) const {
  return t_->SetContains(key_, member);
}
Result<std::vector<std::string>> SetHandle::Members() const {
  return t_->SetMembers(key_);
}

Result<uint64_t> ListHandle::Insert(uint64_t index,
                                    const std::vector<std::string>& values) {
  return t_->ListEdit(key_, 0, index, 0, values);
}
Result<uint64_t> ListHandle::Delete(uint64_t index, uint64_t count) {
  return t_->ListEdit(key_, 1, index, count, {});
}
Result<uint64_t> ListHandle::PushBack(const std::vector<std::string>& values) {
  return t_->ListEdit(key_, 2, 0, 0, values);
}
Result<uint64_t> ListHandle::PushFront(const std::vector<std::string>& values) {
  return t_->ListEdit(key_, 3, 0, 0, values);
}
Result<ListRange> ListHandle::Range(uint64_t offset, uint64_t limit) const {
  return t_->ListGet(key_, offset, limit);
}
Result<uint64_t> ListHandle::Length() const {
  DELTAKV_ASSIGN_OR_RETURN(ListRange r, t_->ListGet(key_, 0, 1));
  return r.length;
}

Result<uint64_t> ListHandle::InsertText(uint64_t index, std::string_view text) {
  return t_->ListInsertText(key_, index, text);
}
Result<std::string> ListHandle::Text(uint64_t offset, uint64_t limit) const {
  DELTAKV_ASSIGN_OR_RETURN(ListRange r, t_->ListGet(key_, offset, limit));
  std::string out;
  for (size_t i = 0; i < r.values.size(); ++i) {
    if (!IsOneCodePoint(r.values[i])) {
      return Status::WrongType(
          "the list holds values that are not single characters (at "
          "position " +
          std::to_string(offset + i) + ")");
    }
    out += r.values[i];
  }
  return out;
}

Result<uint64_t> Transport::ListInsertText(const std::string& key,
                                           uint64_t index,
                                           std::string_view text) {
  if (text.empty()) return Status::InvalidArgument("text must not be empty");
  std::vector<std::string> values;
  if (!SplitUtf8(text, &values)) {
    return Status::InvalidArgument("text must be UTF-8");
  }
  return ListEdit(key, 0, index, 0, values);
}

Db::Db(std::unique_ptr<Transport> t) : t_(std::move(t)) {}
Db::~Db() = default;

Result<std::unique_ptr<Db>> Db::Open(const Options& options) {
  Status s;
  std::unique_ptr<Transport> t = NewEmbeddedTransport(options, &s);
  if (!s.ok()) return s;
  return std::unique_ptr<Db>(new Db(std::move(t)));
}

Result<std::unique_ptr<Db>> Db::Connect(std::string_view url,
                                        std::string token) {
  ConnectOptions options;
  options.token = std::move(token);
  return Connect(url, options);
}

Result<std::unique_ptr<Db>> Db::Connect(std::string_view url,
                                        const ConnectOptions& options) {
  Status s;
  std::unique_ptr<Transport> t = NewRemoteTransport(url, options, &s);
  if (!s.ok()) return s;
  return std::unique_ptr<Db>(new Db(std::move(t)));
}

Result<bool> Db::Delete(std::string_view key) { return t_->Delete(key); }
Result<KeyType> Db::TypeOf(std::string_view key) const {
  return t_->TypeOf(key);
}
Result<ScanResult> Db::Scan(std::string_view prefix, std::string_view cursor,
                            size_t limit) const {
  return t_->Scan(prefix, cursor, limit);
}

}  // namespace deltakv
