#include "actors/file_writer.hpp"

#include <pthread.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "actors/batch_pool.hpp"
#include "crypto/secret.hpp"

namespace ccrec {

namespace {

std::int64_t steady_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

// The file behind a writer: CCENX when encrypting, else the raw stream.
class record_file {
 public:
  virtual ~record_file() = default;
  virtual result<void> append(const std::uint8_t* data, std::size_t size) = 0;
  virtual result<void> flush() = 0;
  virtual result<void> finish() = 0;
  virtual std::uint64_t file_bytes() const = 0;
  // Plaintext appended but not yet sealed into a chunk.
  virtual std::uint64_t unsealed_bytes() const = 0;
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
  std::uint64_t unsealed_bytes() const override {
    // Every sealed chunk is its plaintext plus a fixed overhead on disk.
    const auto sealed = w_->file_bytes() - crypto::ccenx_header_size -
                        w_->chunks_written() * crypto::ccenx_chunk_overhead;
    return w_->plaintext_bytes() - sealed;
  }

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
  std::uint64_t unsealed_bytes() const override { return 0; }

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
                                        args.content, args.chunk_size);
  if (!w)
    return w.error();
  return std::unique_ptr<record_file>{new encrypted_file(std::move(*w))};
}

// A few threads, for the whole process, that seal final chunks and sync
// files: the blocking end of every writer, off the scheduler's workers. A
// pool rather than a thread per file, so that thousands of calls ending at
// once queue instead of starting thousands of threads. Jobs hold no actor
// handle, only an address, so nothing here keeps an actor system alive.
class sync_pool {
 public:
  static constexpr std::size_t threads = 4;  // concurrent syncs let the file system batch them

  static sync_pool& instance() {
    static sync_pool pool;
    return pool;
  }

  void submit(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

  ~sync_pool() {
    {
      std::lock_guard<std::mutex> lock{mutex_};
      stop_ = true;
    }
    ready_.notify_all();
    for (auto& t : workers_)
      t.join();
  }

 private:
  sync_pool() {
    for (std::size_t i = 0; i < threads; ++i)
      workers_.emplace_back([this] { work(); });
  }

  void work() {
    pthread_setname_np(pthread_self(), "ccrec.sync");  // for top -H and profiles
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock{mutex_};
        ready_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty())
          return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

struct writer_state {
  std::unique_ptr<record_file> file;
  std::string path;
  std::string failure;  // first error; empty while healthy
  std::uint64_t packets = 0;
  std::uint64_t dropped_batches = 0;
  std::int64_t flush_interval_ms = 0;
  std::int64_t unsealed_since_ms = 0;  // when the oldest unsealed byte came
  // Once finishing, the file belongs to the sync pool until it answers.
  bool finishing = false;
  std::vector<caf::response_promise> finish_promises;
};

using state_ptr = std::shared_ptr<writer_state>;

void fail(writer_state& st, const error& err) {
  if (!st.failure.empty())
    return;
  st.failure = err.message;
  spdlog::warn("file writer {}: {}", st.path, err.message);
}

void flush_file(writer_state& st) {
  if (st.finishing || !st.failure.empty() || st.file->unsealed_bytes() == 0)
    return;
  if (auto ok = st.file->flush(); !ok)
    fail(st, ok.error());
}

void append_batch(writer_state& st, const write_batch& batch) {
  if (st.finishing || !st.failure.empty()) {
    ++st.dropped_batches;
    return;
  }
  if (auto ok = st.file->append(batch.bytes.data(), batch.bytes.size()); !ok)
    return fail(st, ok.error());
  st.packets += batch.packets;

  // No more unsealed bytes than this batch brought: the older ones were
  // sealed (a chunk filled on the way, or there were none), so the oldest
  // unsealed byte came now.
  const auto now = steady_ms();
  const auto unsealed = st.file->unsealed_bytes();
  if (unsealed <= batch.bytes.size())
    st.unsealed_since_ms = now;
  if (unsealed > 0 && now - st.unsealed_since_ms >= st.flush_interval_ms)
    flush_file(st);
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

// Hands the file to the sync pool; its answer comes back as
// (event_atom, file_summary).
caf::response_promise begin_finish(caf::event_based_actor* self, const state_ptr& st) {
  auto promise = self->make_response_promise();
  st->finish_promises.push_back(promise);
  if (st->finishing)
    return promise;

  st->finishing = true;
  sync_pool::instance().submit([st, writer = self->address()] {
    auto summary = finish_file(*st);
    if (auto handle = caf::actor_cast<caf::actor>(writer))
      caf::anon_send(handle, event_atom::value, std::move(summary));
  });
  return promise;
}

}  // namespace

caf::behavior file_writer(caf::event_based_actor* self, file_writer_args args) {
  auto st = std::make_shared<writer_state>();
  st->path = args.path;
  st->flush_interval_ms = args.flush_interval_ms;
  if (auto file = open_record_file(args); !file) {
    fail(*st, file.error());
  } else {
    st->file = std::move(*file);
    write_batch preamble{std::move(args.preamble), 0};
    append_batch(*st, preamble);
  }

  return {
      [st](write_atom, write_batch& batch) {
        append_batch(*st, batch);
        batch_pool::give(std::move(batch.bytes));  // wiped, for the media thread
      },
      [st](flush_atom) { flush_file(*st); },
      [self, st](finish_atom) { return begin_finish(self, st); },
      [self, st](event_atom, file_summary& summary) {
        // Internal: the sync pool finished the file.
        for (auto& p : st->finish_promises)
          p.deliver(summary);
        self->quit();
      },
  };
}

}  // namespace ccrec
