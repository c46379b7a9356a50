// stored_audio: playing and verifying the stored forms of a recording other
// than the raw record stream: compressed (FLAC inside CCENX), a WAV inside
// CCENX (a legacy recording encrypted in place), and a plain WAV (the
// plain-WAV recording method's file before the transcoder took it, or a
// legacy one). actors/recordings.cpp dispatches here; the raw stream keeps
// its own path there.
//
// No actors: these block on files on the calling thread. Decoded audio
// exists in memory and in the WAV file the caller asked for, nowhere else.
#pragma once

#include <cstdint>
#include <string>

#include "actors/audio_codec.hpp"
#include "actors/keyring.hpp"
#include "common/result.hpp"
#include "crypto/ccenx.hpp"

namespace ccrec {

struct stored_play {
  audio::content_kind content = audio::content_kind::unknown;
  audio::pcm_format format;
  std::uint64_t frames = 0;
  std::string comment;  // a FLAC file's Vorbis comment (the call's metadata)
  bool encrypted = false;
  crypto::ccenx_report report;  // when encrypted
};

// What the plaintext of `path` is (decrypting as far as its first bytes
// when it is CCENX). Fails with "encryption_disabled" / "unknown_key" when a
// CCENX file's key is not in `ring`, or "io".
result<audio::content_kind> stored_content(const std::string& path, const keyring& ring);

// Decodes `path` (FLAC or WAV, encrypted or not) to a 16-bit PCM WAV at
// `wav_out` (a WAV is copied as it is: it already is one). Fails with
// "unknown_key", "unsupported_content" (a form this build cannot play),
// "codec_*", the CCENX reader's code when the file does not authenticate,
// or "io".
result<stored_play> play_stored(const std::string& path, const keyring& ring,
                                const std::string& wav_out);

// Decrypts and decodes `path` completely without writing anything: what
// `ccrec verify` does for files that are not raw streams.
result<stored_play> verify_stored(const std::string& path, const keyring& ring);

}  // namespace ccrec
