#ifndef CCRYPTO_SHIM_H
#define CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <string.h>

/* Small C helpers over libcrypto for the two SSH signature algorithms Redeye accepts. They keep OpenSSL's
   object juggling (and its deprecated EC_KEY calls) on the C side; every one returns 1 on success. */

/* Ed25519 signature of msg with a 32-byte seed; writes 64 bytes to sig. */
static inline int ccrypto_ed25519_sign(const unsigned char *seed, const unsigned char *msg, size_t msglen,
                                       unsigned char *sig) {
    int ok = 0;
    size_t siglen = 64;
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (key && ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
        EVP_DigestSign(ctx, sig, &siglen, msg, msglen) == 1 && siglen == 64) ok = 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/* The 32-byte public key of an Ed25519 seed. */
static inline int ccrypto_ed25519_public(const unsigned char *seed, unsigned char *pub) {
    size_t len = 32;
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    int ok = key && EVP_PKEY_get_raw_public_key(key, pub, &len) == 1 && len == 32;
    EVP_PKEY_free(key);
    return ok;
}

static inline int ccrypto_ed25519_verify(const unsigned char *pub, const unsigned char *msg, size_t msglen,
                                         const unsigned char *sig, size_t siglen) {
    int ok = 0;
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (key && ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
        EVP_DigestVerify(ctx, sig, siglen, msg, msglen) == 1) ok = 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

/* OpenSSH's curve names → OpenSSL NIDs and the hash each curve signs with (RFC 5656). */
static inline int ccrypto_ecdsa_nid(int bits) {
    return bits == 256 ? NID_X9_62_prime256v1 : bits == 384 ? NID_secp384r1 : bits == 521 ? NID_secp521r1 : 0;
}
static inline const EVP_MD *ccrypto_ecdsa_md(int bits) {
    return bits == 256 ? EVP_sha256() : bits == 384 ? EVP_sha384() : EVP_sha512();
}

/* ECDSA over msg (hashed with the curve's hash) with private scalar d; writes r and s big-endian,
   each into a buffer of `cap` bytes, and their lengths. */
static inline int ccrypto_ecdsa_sign(int bits, const unsigned char *d, size_t dlen, const unsigned char *msg,
                                     size_t msglen, unsigned char *r, size_t *rlen, unsigned char *s,
                                     size_t *slen, size_t cap) {
    int ok = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestlen = 0;
    EC_KEY *key = EC_KEY_new_by_curve_name(ccrypto_ecdsa_nid(bits));
    BIGNUM *priv = BN_bin2bn(d, (int)dlen, NULL);
    ECDSA_SIG *sig = NULL;
    if (!key || !priv || EC_KEY_set_private_key(key, priv) != 1) goto done;
    if (EVP_Digest(msg, msglen, digest, &digestlen, ccrypto_ecdsa_md(bits), NULL) != 1) goto done;
    sig = ECDSA_do_sign(digest, (int)digestlen, key);
    if (!sig) goto done;
    const BIGNUM *br = NULL, *bs = NULL;
    ECDSA_SIG_get0(sig, &br, &bs);
    if ((size_t)BN_num_bytes(br) > cap || (size_t)BN_num_bytes(bs) > cap) goto done;
    *rlen = (size_t)BN_bn2bin(br, r);
    *slen = (size_t)BN_bn2bin(bs, s);
    ok = 1;
done:
    ECDSA_SIG_free(sig);
    BN_free(priv);
    EC_KEY_free(key);
    return ok;
}

/* The uncompressed public point (0x04 || X || Y) of private scalar d; writes *qlen bytes to q (cap 133). */
static inline int ccrypto_ecdsa_public(int bits, const unsigned char *d, size_t dlen, unsigned char *q, size_t *qlen) {
    int ok = 0;
    EC_KEY *key = EC_KEY_new_by_curve_name(ccrypto_ecdsa_nid(bits));
    BIGNUM *priv = BN_bin2bn(d, (int)dlen, NULL);
    EC_POINT *point = NULL;
    if (!key || !priv) goto done;
    const EC_GROUP *group = EC_KEY_get0_group(key);
    point = EC_POINT_new(group);
    if (!point || EC_POINT_mul(group, point, priv, NULL, NULL, NULL) != 1) goto done;
    *qlen = EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, q, 133, NULL);
    ok = *qlen > 0;
done:
    EC_POINT_free(point);
    BN_free(priv);
    EC_KEY_free(key);
    return ok;
}

static inline int ccrypto_ecdsa_verify(int bits, const unsigned char *q, size_t qlen, const unsigned char *msg,
                                       size_t msglen, const unsigned char *r, size_t rlen, const unsigned char *s,
                                       size_t slen) {
    int ok = 0;
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int digestlen = 0;
    EC_KEY *key = EC_KEY_new_by_curve_name(ccrypto_ecdsa_nid(bits));
    EC_POINT *point = NULL;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)rlen, NULL), *bs = BN_bin2bn(s, (int)slen, NULL);
    if (!key || !sig || !br || !bs) goto done;
    point = EC_POINT_new(EC_KEY_get0_group(key));
    if (!point || EC_POINT_oct2point(EC_KEY_get0_group(key), point, q, qlen, NULL) != 1) goto done;
    if (EC_KEY_set_public_key(key, point) != 1) goto done;
    if (ECDSA_SIG_set0(sig, br, bs) != 1) goto done;
    br = bs = NULL; /* owned by sig now */
    if (EVP_Digest(msg, msglen, digest, &digestlen, ccrypto_ecdsa_md(bits), NULL) != 1) goto done;
    ok = ECDSA_do_verify(digest, (int)digestlen, sig, key) == 1;
done:
    BN_free(br);
    BN_free(bs);
    ECDSA_SIG_free(sig);
    EC_POINT_free(point);
    EC_KEY_free(key);
    return ok;
}

/* SHA-256 / SHA-512 in one call. */
static inline int ccrypto_digest(int sha512, const unsigned char *msg, size_t len, unsigned char *out) {
    unsigned int outlen = 0;
    return EVP_Digest(msg, len, out, &outlen, sha512 ? EVP_sha512() : EVP_sha256(), NULL);
}
#endif
