/* Network byte order loads and stores that are safe on unaligned pointers. */
#ifndef PSQLPY_BYTEORDER_H
#define PSQLPY_BYTEORDER_H
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define PSQLPY_BSWAP16 __builtin_bswap16
#define PSQLPY_BSWAP32 __builtin_bswap32
#define PSQLPY_BSWAP64 __builtin_bswap64
#else
static inline uint16_t PSQLPY_BSWAP16(uint16_t x) { return (uint16_t)((x >> 8) | (x << 8)); }
static inline uint32_t PSQLPY_BSWAP32(uint32_t x) {
    return ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >> 8) & 0xff00) | (x >> 24); }
static inline uint64_t PSQLPY_BSWAP64(uint64_t x) {
    return ((uint64_t)PSQLPY_BSWAP32((uint32_t)x) << 32) | PSQLPY_BSWAP32((uint32_t)(x >> 32)); }
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define PSQLPY_HTON16(x) (x)
#define PSQLPY_HTON32(x) (x)
#define PSQLPY_HTON64(x) (x)
#else
#define PSQLPY_HTON16(x) PSQLPY_BSWAP16(x)
#define PSQLPY_HTON32(x) PSQLPY_BSWAP32(x)
#define PSQLPY_HTON64(x) PSQLPY_BSWAP64(x)
#endif

static inline uint16_t unpack_uint16(const char *p) { uint16_t v; memcpy(&v, p, 2); return PSQLPY_HTON16(v); }
static inline uint32_t unpack_uint32(const char *p) { uint32_t v; memcpy(&v, p, 4); return PSQLPY_HTON32(v); }
static inline unsigned long long unpack_uint64(const char *p) { uint64_t v; memcpy(&v, p, 8); return PSQLPY_HTON64(v); }
static inline void pack_uint16(char *p, uint16_t v) { v = PSQLPY_HTON16(v); memcpy(p, &v, 2); }
static inline void pack_uint32(char *p, uint32_t v) { v = PSQLPY_HTON32(v); memcpy(p, &v, 4); }
static inline void pack_uint64(char *p, unsigned long long v) { uint64_t w = PSQLPY_HTON64((uint64_t)v); memcpy(p, &w, 8); }
static inline float unpack_float4(const char *p) { uint32_t v = unpack_uint32(p); float f; memcpy(&f, &v, 4); return f; }
static inline double unpack_float8(const char *p) { uint64_t v = (uint64_t)unpack_uint64(p); double d; memcpy(&d, &v, 8); return d; }
static inline void pack_float4(char *p, float f) { uint32_t v; memcpy(&v, &f, 4); pack_uint32(p, v); }
static inline void pack_float8(char *p, double d) { uint64_t v; memcpy(&v, &d, 8); pack_uint64(p, (unsigned long long)v); }
#endif
