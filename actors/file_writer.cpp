#include "actors/file_writer.hpp"

#include <chrono>

#include <spdlog/spdlog.h>

#include "crypto/secret.hpp"

namespace ccrec {

namespace {

// The file behind a writer: CCENX when encrypting, else the raw stream.
class record_file {
 public:
  virtual ~record_file() = default;
  virtual result<void> append(const std::uint8_t* data, std::size_t size) = 0;
  virtual result<void> flush() = 0;
  virtual result<void> finish() = 0;
  virtual std::uint64_t file_bytes() const = 0;
};

class encrypted_file : public record_file {
 public:
  explicit encrypted_file(std::unique_ptr<crypto::ccenx_writer> w) : w_(std::move(w)) {}
  result<void> append(const std::uint8_t* data, std::size_t size) override {
    return w_->append(data, size);
  }
  result<void> flush() override { return w_->flush(false); }
  result<void> finish() override { return w_->finish(); }
  std::uint64_t file_bytes() const override { return w_->file_bytes(); }

 private:
  std::unique_ptr<crypto::ccenx_writer> w_;
};

// Written plain only when encryption is disabled by configuration.
class plain_file : public record_file {
 public:
  explicit plain_file(std::unique_ptr<crypto::byte_sink> s) : sink_(std::move(s)) {}
  result<void> append(const std::uint8_t* data, std::size_t size) override {
    bytes_ += size;
    return sink_->write(data, size);
  }
  result<void> flush() override { return {}; }
  result<void> finish() override { return sink_->sync(); }
  std::uint64_t file_bytes() const override { return bytes_; }

 private:
  std::unique_ptr<crypto::byte_sink> sink_;
  std::uint64_t bytes_ = 0;
};

result<std::unique_ptr<record_file>> open_record_file(const file_writer_args& args) {
  auto sink = crypto::open_file_sink(args.path);
  if (!sink)
    return sink.error();
  if (!args.encrypt)
    return std::unique_ptr<record_file>{new plain_file(std::move(*sink))};

  if (!args.grant.key)
    return make_error("no_key", "no master key granted for " + args.path);
  auto w = crypto::ccenx_writer::create(std::move(*sink), args.grant.key_id, *args.grant.key,
                                        args.content);
  if (!w)
    return w.error();
  return std::unique_ptr<record_file>{new encrypted_file(std::move(*w))};
}

struct writer_state {
  std::unique_ptr<record_file> file;
  std::string path;
  std::string failure;  // first error; empty while healthy
  std::uint64_t packets = 0;
  std::uint64_t dropped_batches = 0;
  bool dirty = false;   // bytes appended since the last flush
};

void fail(writer_state& st, const error& err) {
  if (!st.failure.empty())
    return;
  st.failure = err.message;
  spdlog::warn("file writer {}: {}", st.path, err.message);
}

void append_batch(writer_state& st, const write_batch& batch) {
  if (!st.failure.empty()) {
    ++st.dropped_batches;
    return;
  }
  if (auto ok = st.file->append(batch.bytes.data(), batch.bytes.size()); !ok)
    return fail(st, ok.error());
  st.packets += batch.packets;
  st.dirty = true;
}

void flush_file(writer_state& st) {
  if (!st.failure.empty() || !st.dirty)
    return;
  st.dirty = false;
  if (auto ok = st.file->flush(); !ok)
    fail(st, ok.error());
}

file_summary finish_file(writer_state& st) {
  if (st.failure.empty()) {
    if (auto ok = st.file->finish(); !ok)
      fail(st, ok.error());
  }

  file_summary summary;
  summary.path = st.path;
  summary.status = st.failure.empty() ? "complete" : "failed";
  summary.error = st.failure;
  summary.bytes = st.file ? st.file->file_bytes() : 0;
  summary.packets = st.packets;
  return summary;
}

}  // namespace

caf::behavior file_writer(caf::event_based_actor* self, file_writer_args args) {
  auto st = std::make_shared<writer_state>();
  st->path = args.path;
  if (auto file = open_record_file(args); !file) {
    fail(*st, file.error());
  } else {
    st->file = std::move(*file);
    write_batch preamble{std::move(args.preamble), 0};
    append_batch(*st, preamble);
  }

  auto interval = std::chrono::milliseconds{args.flush_interval_ms};
  self->delayed_send(self, interval, flush_atom::value);
  return {
      [st](write_atom, const write_batch& batch) { append_batch(*st, batch); },
      [self, st, interval](flush_atom) {
        flush_file(*st);
        self->delayed_send(self, interval, flush_atom::value);
      },
      [self, st](finish_atom) {
        auto summary = finish_file(*st);
        self->quit();
        return summary;
      },
  };
}

}  // namespace ccrec
