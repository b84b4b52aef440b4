// Redis Cluster's key slots (the Cluster specification, "Keys distribution
// model"): CRC16 (XMODEM: polynomial 0x1021, initial value 0) of the key,
// or of its hash tag, modulo 16384. A hash tag is what lies between the
// first '{' and the first '}' after it, when that is not empty: every key
// of an event (PREFIX:{E}:...) hashes by E alone, so an event lives on one
// slot, and one script call on its keys runs on one node.
#pragma once

#include <cstdint>
#include <string_view>

namespace ticketq {

inline constexpr int kClusterSlots = 16384;

// CRC16-XMODEM, as Redis computes it (crc16.c).
uint16_t crc16(std::string_view data);

// The slot of a key, 0..16383.
uint16_t key_slot(std::string_view key);

}  // namespace ticketq
