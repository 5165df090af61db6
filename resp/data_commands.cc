// The typed commands: counters, registers, sets, lists and keys, each a
// call (or a few) of the cluster::Service.
#include <algorithm>

#include "resp/commands_internal.h"

namespace deltakv::resp {

using cluster::ReadKind;
using cluster::ReadOp;
using cluster::ReadResult;
using cluster::WriteKind;
using cluster::WriteOp;
using cluster::WriteResult;

namespace {

constexpr const char* kNotInteger =
    "ERR value is not an integer or out of range";

cluster::WriteOptions FastWrite() {
  cluster::WriteOptions o;
  o.want_token = false;
  return o;
}

ReadOp Read(ReadKind kind, std::string key) {
  ReadOp op;
  op.kind = kind;
  op.key = std::move(key);
  return op;
}

bool IsStringType(cluster::KeyType t) {
  return t == cluster::KeyType::kCounter || t == cluster::KeyType::kRegister;
}

// Redis's name of a key's type: registers and counters are "string" (GET
// reads both).
const char* RedisType(cluster::KeyType t) {
  switch (t) {
    case cluster::KeyType::kCounter:
    case cluster::KeyType::kRegister:
      return "string";
    case cluster::KeyType::kSet:
      return "set";
    case cluster::KeyType::kList:
      return "list";
    default:
      return "string";
  }
}

// Checks every key argument from `first` on, every `step`; false (and the
// error sent) when one is bad.
bool KeysOk(const std::shared_ptr<Commands::Call>& c, size_t first,
            size_t step = 1) {
  for (size_t i = first; i < c->args.size(); i += step) {
    if (auto e = CheckKey(c->args[i])) {
      c->Fail(*e);
      return false;
    }
  }
  return true;
}

bool KeyOk(const std::shared_ptr<Commands::Call>& c, size_t i) {
  return KeysOk(c, i, c->args.size());
}

bool TextsOk(const std::shared_ptr<Commands::Call>& c, size_t first) {
  for (size_t i = first; i < c->args.size(); ++i) {
    if (auto e = CheckText(c->args[i])) {
      c->Fail(*e);
      return false;
    }
  }
  return true;
}

// The value GET answers for a key read with ReadKind::kString.
std::string StringValue(const ReadResult& r) {
  if (r.type == cluster::KeyType::kCounter) return std::to_string(r.counter);
  return DecodeRegisterValue(r.value);
}

}  // namespace

// ------------------------------------------------------------- counters

void Commands::Incr(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  int64_t by = 1;
  if (c->name == "decr") by = -1;
  if (c->name == "incrby" || c->name == "decrby") {
    auto v = ParseInt(c->args[2]);
    if (!v) return c->Fail(kNotInteger);
    if (c->name == "decrby") {
      if (*v == std::numeric_limits<int64_t>::min()) {
        return c->Fail("ERR decrement would overflow");
      }
      *v = -*v;
    }
    by = *v;
  }
  WriteOp op;
  op.kind = WriteKind::kCounterIncrement;
  op.key = c->args[1];
  op.by = by;
  service_->Write(std::move(op), FastWrite(), [c](Result<WriteResult> r) {
    if (!r.ok()) return c->Fail(ErrorText(r.status()));
    c->Int(r->value, r->seq);
  });
}

// ------------------------------------------------------------ registers

void Commands::Get(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  service_->Read(Read(ReadKind::kString, c->args[1]), {},
                 [c](Result<ReadResult> r) {
                   Reply out = c->NewReply();
                   if (!r.ok()) {
                     if (r.status().IsNotFound()) {
                       out.Null();
                       return c->Send(out);
                     }
                     return c->Fail(ErrorText(r.status()));
                   }
                   out.Bulk(StringValue(*r));
                   c->Send(out);
                 });
}

void Commands::Set(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  for (size_t i = 3; i < c->args.size(); ++i) {
    const std::string opt = Lower(c->args[i]);
    std::string upper = opt;
    for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
    if (opt == "ex" || opt == "px" || opt == "exat" || opt == "pxat" ||
        opt == "keepttl") {
      return c->Fail("ERR SET " + upper +
                     " is not supported: deltakv has no TTL (expiring keys) "
                     "yet");
    }
    if (opt == "nx" || opt == "xx") {
      return c->Fail("ERR SET " + upper +
                     " is not supported: a conditional write needs "
                     "coordination between regions (SET is last writer "
                     "wins)");
    }
    if (opt == "get") {
      return c->Fail(
          "ERR SET GET is not supported: answering the old value with the "
          "write is a read-modify-write, which needs coordination between "
          "regions");
    }
    return c->SyntaxError();
  }
  WriteOp op;
  op.kind = WriteKind::kRegisterSet;
  op.key = c->args[1];
  op.value = EncodeRegisterValue(c->args[2]);
  service_->Write(std::move(op), FastWrite(), [c](Result<WriteResult> r) {
    if (!r.ok()) return c->Fail(ErrorText(r.status()));
    Reply out = c->NewReply();
    out.Simple("OK");
    c->Send(out, r->seq);
  });
}

void Commands::MGet(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  const size_t n = c->args.size() - 1;
  auto gather = std::make_shared<Gather<ReadResult>>(
      n, [c](std::vector<Result<ReadResult>>& results) {
        Reply out = c->NewReply();
        out.Array(results.size());
        for (const auto& r : results) {
          // Like Redis: a missing key, or one of another type, is nil.
          if (r.ok() && IsStringType(r->type)) {
            out.Bulk(StringValue(*r));
          } else {
            out.Null();
          }
        }
        c->Send(out);
      });
  for (size_t i = 0; i < n; ++i) {
    service_->Read(
        Read(ReadKind::kString, c->args[i + 1]), {},
        [gather, i](Result<ReadResult> r) { gather->Put(i, std::move(r)); });
  }
}

void Commands::MSet(const std::shared_ptr<Call>& c) {
  if (c->args.size() % 2 != 1) return c->WrongArgs();
  if (!KeysOk(c, 1, 2)) return;
  // Type clashes are found before anything is written, so a WRONGTYPE
  // writes nothing (unless another client creates the key meanwhile).
  const size_t pairs = (c->args.size() - 1) / 2;
  auto check = std::make_shared<Gather<ReadResult>>(
      pairs, [this, c, pairs](std::vector<Result<ReadResult>>& types) {
        for (const auto& t : types) {
          if (t.ok() && t->type != cluster::KeyType::kRegister) {
            return c->Fail(ErrorText(
                Status::WrongType(std::string("a key holds a ") +
                                  std::string(cluster::KeyTypeName(t->type)))));
          }
          if (!t.ok() && !t.status().IsNotFound()) {
            return c->Fail(ErrorText(t.status()));
          }
        }
        auto writes = std::make_shared<Gather<WriteResult>>(
            pairs, [c](std::vector<Result<WriteResult>>& results) {
              uint64_t seq = 0;
              for (const auto& r : results) {
                if (!r.ok()) return c->Fail(ErrorText(r.status()));
                seq = std::max(seq, r->seq);
              }
              Reply out = c->NewReply();
              out.Simple("OK");
              c->Send(out, seq);
            });
        for (size_t i = 0; i < pairs; ++i) {
          WriteOp op;
          op.kind = WriteKind::kRegisterSet;
          op.key = c->args[1 + 2 * i];
          op.value = EncodeRegisterValue(c->args[2 + 2 * i]);
          service_->Write(std::move(op), FastWrite(),
                          [writes, i](Result<WriteResult> r) {
                            writes->Put(i, std::move(r));
                          });
        }
      });
  for (size_t i = 0; i < pairs; ++i) {
    service_->Read(
        Read(ReadKind::kType, c->args[1 + 2 * i]), {},
        [check, i](Result<ReadResult> r) { check->Put(i, std::move(r)); });
  }
}

// ----------------------------------------------------------------- sets

void Commands::SAdd(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1) || !TextsOk(c, 2)) return;
  WriteOp op;
  op.kind = c->name == "sadd" ? WriteKind::kSetAdd : WriteKind::kSetRemove;
  op.key = c->args[1];
  op.values.assign(c->args.begin() + 2, c->args.end());
  service_->Write(std::move(op), FastWrite(), [c](Result<WriteResult> r) {
    if (!r.ok()) return c->Fail(ErrorText(r.status()));
    c->Int(static_cast<int64_t>(r->changed), r->seq);
  });
}

void Commands::SMembers(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  service_->Read(Read(ReadKind::kSetMembers, c->args[1]), {},
                 [c](Result<ReadResult> r) {
                   Reply out = c->NewReply();
                   if (!r.ok() && !r.status().IsNotFound()) {
                     return c->Fail(ErrorText(r.status()));
                   }
                   if (!r.ok()) {
                     out.Set(0);
                     return c->Send(out);
                   }
                   out.Set(r->values.size());
                   for (const auto& m : r->values) out.Bulk(m);
                   c->Send(out);
                 });
}

void Commands::SIsMember(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  ReadOp op = Read(ReadKind::kSetContains, c->args[1]);
  op.values.assign(c->args.begin() + 2, c->args.end());
  const bool many = c->name == "smismember";
  const size_t n = op.values.size();
  service_->Read(std::move(op), {}, [c, many, n](Result<ReadResult> r) {
    if (!r.ok() && !r.status().IsNotFound()) {
      return c->Fail(ErrorText(r.status()));
    }
    std::vector<bool> contains(n, false);
    if (r.ok()) contains = r->contains;
    Reply out = c->NewReply();
    if (!many) {
      out.Integer(contains.empty() || !contains[0] ? 0 : 1);
      return c->Send(out);
    }
    out.Array(contains.size());
    for (bool b : contains) out.Integer(b ? 1 : 0);
    c->Send(out);
  });
}

void Commands::SCard(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  service_->Read(Read(ReadKind::kSetSize, c->args[1]), {},
                 [c](Result<ReadResult> r) {
                   if (!r.ok() && !r.status().IsNotFound()) {
                     return c->Fail(ErrorText(r.status()));
                   }
                   c->Int(r.ok() ? static_cast<int64_t>(r->size) : 0);
                 });
}

void Commands::SScan(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  // One page holds every member (as Redis does for small sets): the
  // cursor is 0 before and after.
  if (c->args[2] != "0") {
    return c->Fail(
        "ERR invalid cursor (SSCAN answers every member at once: "
        "start, and end, at 0)");
  }
  std::string match;
  for (size_t i = 3; i < c->args.size(); i += 2) {
    if (i + 1 >= c->args.size()) return c->SyntaxError();
    const std::string opt = Lower(c->args[i]);
    if (opt == "match") {
      match = c->args[i + 1];
    } else if (opt == "count") {
      auto n = ParseInt(c->args[i + 1]);
      if (!n) return c->Fail(kNotInteger);
      if (*n < 1) return c->SyntaxError();
    } else {
      return c->SyntaxError();
    }
  }
  service_->Read(Read(ReadKind::kSetMembers, c->args[1]), {},
                 [c, match](Result<ReadResult> r) {
                   if (!r.ok() && !r.status().IsNotFound()) {
                     return c->Fail(ErrorText(r.status()));
                   }
                   std::vector<const std::string*> hits;
                   if (r.ok()) {
                     for (const auto& m : r->values) {
                       if (match.empty() || GlobMatch(match, m)) {
                         hits.push_back(&m);
                       }
                     }
                   }
                   Reply out = c->NewReply();
                   out.Array(2);
                   out.Bulk("0");
                   out.Array(hits.size());
                   for (const auto* m : hits) out.Bulk(*m);
                   c->Send(out);
                 });
}

// ---------------------------------------------------------------- lists

void Commands::Push(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1) || !TextsOk(c, 2)) return;
  WriteOp op;
  op.kind = WriteKind::kListPush;
  op.key = c->args[1];
  op.front = c->name == "lpush";
  op.values.assign(c->args.begin() + 2, c->args.end());
  // LPUSH a b c leaves c b a at the front, as in Redis.
  if (op.front) std::reverse(op.values.begin(), op.values.end());
  service_->Write(std::move(op), FastWrite(), [c](Result<WriteResult> r) {
    if (!r.ok()) return c->Fail(ErrorText(r.status()));
    c->Int(static_cast<int64_t>(r->size), r->seq);
  });
}

void Commands::LInsert(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1) || !TextsOk(c, 4)) return;
  const std::string where = Lower(c->args[2]);
  if (where != "before" && where != "after") return c->SyntaxError();
  const bool after = where == "after";
  // The pivot is found by reading the list; the insert names its index
  // then (a concurrent insert elsewhere merges around it).
  service_->Read(
      Read(ReadKind::kListRange, c->args[1]), {},
      [this, c, after](Result<ReadResult> r) {
        if (!r.ok()) {
          if (r.status().IsNotFound()) return c->Int(0);
          return c->Fail(ErrorText(r.status()));
        }
        auto it = std::find(r->values.begin(), r->values.end(), c->args[3]);
        if (it == r->values.end()) return c->Int(-1);
        WriteOp op;
        op.kind = WriteKind::kListInsert;
        op.key = c->args[1];
        op.index =
            static_cast<uint64_t>(it - r->values.begin()) + (after ? 1 : 0);
        op.values = {c->args[4]};
        service_->Write(std::move(op), FastWrite(), [c](Result<WriteResult> w) {
          if (!w.ok()) return c->Fail(ErrorText(w.status()));
          c->Int(static_cast<int64_t>(w->size), w->seq);
        });
      });
}

void Commands::LRange(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  auto start = ParseInt(c->args[2]);
  auto stop = ParseInt(c->args[3]);
  if (!start || !stop) return c->Fail(kNotInteger);
  // The length first (negative indexes count from the end), then the range.
  ReadOp len = Read(ReadKind::kListRange, c->args[1]);
  len.limit = 1;
  service_->Read(std::move(len), {},
                 [this, c, s = *start, e = *stop](Result<ReadResult> r) {
                   Reply out = c->NewReply();
                   if (!r.ok()) {
                     if (!r.status().IsNotFound())
                       return c->Fail(ErrorText(r.status()));
                     out.Array(0);
                     return c->Send(out);
                   }
                   const int64_t n = static_cast<int64_t>(r->size);
                   int64_t from = s < 0 ? std::max<int64_t>(0, n + s) : s;
                   int64_t to = e < 0 ? n + e : std::min<int64_t>(e, n - 1);
                   if (from > to || from >= n) {
                     out.Array(0);
                     return c->Send(out);
                   }
                   ReadOp range = Read(ReadKind::kListRange, c->args[1]);
                   range.offset = static_cast<uint64_t>(from);
                   range.limit = static_cast<uint64_t>(to - from + 1);
                   service_->Read(
                       std::move(range), {}, [c](Result<ReadResult> page) {
                         Reply p = c->NewReply();
                         if (!page.ok()) {
                           // Shortened meanwhile (or gone): what is there now.
                           if (!page.status().IsNotFound() &&
                               page.status().code() != Code::kInvalidArgument) {
                             return c->Fail(ErrorText(page.status()));
                           }
                           p.Array(0);
                           return c->Send(p);
                         }
                         p.Array(page->values.size());
                         for (const auto& v : page->values) p.Bulk(v);
                         c->Send(p);
                       });
                 });
}

void Commands::LLen(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  ReadOp op = Read(ReadKind::kListRange, c->args[1]);
  op.limit = 1;
  service_->Read(std::move(op), {}, [c](Result<ReadResult> r) {
    if (!r.ok() && !r.status().IsNotFound()) {
      return c->Fail(ErrorText(r.status()));
    }
    c->Int(r.ok() ? static_cast<int64_t>(r->size) : 0);
  });
}

void Commands::LIndex(const std::shared_ptr<Call>& c) {
  if (!KeyOk(c, 1)) return;
  auto index = ParseInt(c->args[2]);
  if (!index) return c->Fail(kNotInteger);
  ReadOp len = Read(ReadKind::kListRange, c->args[1]);
  len.limit = 1;
  service_->Read(
      std::move(len), {}, [this, c, i = *index](Result<ReadResult> r) {
        Reply out = c->NewReply();
        if (!r.ok()) {
          if (!r.status().IsNotFound()) return c->Fail(ErrorText(r.status()));
          out.Null();
          return c->Send(out);
        }
        const int64_t n = static_cast<int64_t>(r->size);
        const int64_t at = i < 0 ? n + i : i;
        if (at < 0 || at >= n) {
          out.Null();
          return c->Send(out);
        }
        ReadOp one = Read(ReadKind::kListRange, c->args[1]);
        one.offset = static_cast<uint64_t>(at);
        one.limit = 1;
        service_->Read(std::move(one), {}, [c](Result<ReadResult> v) {
          Reply p = c->NewReply();
          if (v.ok() && !v->values.empty()) {
            p.Bulk(v->values[0]);
          } else {
            p.Null();
          }
          c->Send(p);
        });
      });
}

// ----------------------------------------------------------------- keys

void Commands::Del(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  const size_t n = c->args.size() - 1;
  auto gather = std::make_shared<Gather<WriteResult>>(
      n, [c](std::vector<Result<WriteResult>>& results) {
        int64_t deleted = 0;
        uint64_t seq = 0;
        for (const auto& r : results) {
          if (!r.ok()) return c->Fail(ErrorText(r.status()));
          deleted += r->deleted ? 1 : 0;
          seq = std::max(seq, r->seq);
        }
        c->Int(deleted, seq);
      });
  for (size_t i = 0; i < n; ++i) {
    WriteOp op;
    op.kind = WriteKind::kDelete;
    op.key = c->args[i + 1];
    service_->Write(
        std::move(op), FastWrite(),
        [gather, i](Result<WriteResult> r) { gather->Put(i, std::move(r)); });
  }
}

void Commands::Exists(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  const size_t n = c->args.size() - 1;
  auto gather = std::make_shared<Gather<ReadResult>>(
      n, [c](std::vector<Result<ReadResult>>& results) {
        int64_t found = 0;
        for (const auto& r : results) {
          if (r.ok()) {
            ++found;
          } else if (!r.status().IsNotFound()) {
            return c->Fail(ErrorText(r.status()));
          }
        }
        c->Int(found);
      });
  for (size_t i = 0; i < n; ++i) {
    service_->Read(
        Read(ReadKind::kType, c->args[i + 1]), {},
        [gather, i](Result<ReadResult> r) { gather->Put(i, std::move(r)); });
  }
}

void Commands::Type(const std::shared_ptr<Call>& c) {
  if (!KeysOk(c, 1)) return;
  service_->Read(Read(ReadKind::kType, c->args[1]), {},
                 [c](Result<ReadResult> r) {
                   Reply out = c->NewReply();
                   if (!r.ok()) {
                     if (!r.status().IsNotFound()) {
                       return c->Fail(ErrorText(r.status()));
                     }
                     out.Simple("none");
                   } else {
                     out.Simple(RedisType(r->type));
                   }
                   c->Send(out);
                 });
}

void Commands::Scan(const std::shared_ptr<Call>& c) {
  std::string after;
  if (c->args[1] != "0") {
    auto id = ParseInt(c->args[1]);
    if (!id || *id <= 0 || !LoadCursor(static_cast<uint64_t>(*id), &after)) {
      return c->Fail(
          "ERR invalid cursor (a SCAN cursor of this server, or one too old; "
          "start again from 0)");
    }
  }
  std::string match;
  std::string type;
  int64_t count = 10;
  for (size_t i = 2; i < c->args.size(); i += 2) {
    if (i + 1 >= c->args.size()) return c->SyntaxError();
    const std::string opt = Lower(c->args[i]);
    if (opt == "match") {
      match = c->args[i + 1];
    } else if (opt == "count") {
      auto n = ParseInt(c->args[i + 1]);
      if (!n) return c->Fail(kNotInteger);
      if (*n < 1) return c->SyntaxError();
      count = std::min<int64_t>(*n, 10000);
    } else if (opt == "type") {
      type = Lower(c->args[i + 1]);
      if (type != "string" && type != "counter" && type != "register" &&
          type != "set" && type != "list") {
        return c->Fail("ERR unknown type '" + c->args[i + 1] +
                       "' (deltakv has string, counter, register, set and "
                       "list)");
      }
    } else {
      return c->SyntaxError();
    }
  }
  std::string prefix = GlobPrefix(match);
  service_->Scan(
      std::move(prefix), std::move(after), static_cast<size_t>(count),
      [this, c, match, type](Result<cluster::ScanResult> page) {
        if (!page.ok()) return c->Fail(ErrorText(page.status()));
        std::vector<const std::string*> keys;
        for (const auto& k : page->keys) {
          if (!match.empty() && !GlobMatch(match, k.key)) continue;
          if (!type.empty()) {
            const bool ok =
                type == RedisType(k.type) ||
                (type == "counter" && k.type == cluster::KeyType::kCounter) ||
                (type == "register" && k.type == cluster::KeyType::kRegister);
            if (!ok) continue;
          }
          keys.push_back(&k.key);
        }
        const std::string cursor =
            page->next ? std::to_string(SaveCursor(*page->next)) : "0";
        Reply out = c->NewReply();
        out.Array(2);
        out.Bulk(cursor);
        out.Array(keys.size());
        for (const auto* k : keys) out.Bulk(*k);
        c->Send(out);
      });
}

}  // namespace deltakv::resp
