/*
 * utpm example: the tpm2-tss ESAPI in C against any TPM.
 *
 * Starts the TPM (Startup(CLEAR); a TPM that is already started answers TPM_RC_INITIALIZE,
 * which is fine), reads PCRs 0, 7 and 16 of the SHA-256 bank, creates an ECC P-256 storage
 * primary key under the owner hierarchy and an ECDSA signing key under it, lets the TPM hash a
 * message (Esys_Hash), signs the digest and asks the TPM to verify its own signature. Prints one
 * JSON object, so a script (or the test in tests/examples) can check the signature with an
 * independent implementation.
 *
 *   esys_sign [-T TCTI] [-m MESSAGE]
 *
 * TCTI examples: mssim:host=127.0.0.1,port=2321 (utpmd), utpm:device=/dev/ttyACM0 (a board),
 * swtpm:port=2321. Without -T, TPM2TOOLS_TCTI, then tpm2-tss's default TCTI search.
 * Exit status: 0 done, 1 a TPM or TSS error (printed with Tss2_RC_Decode), 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

/* Every call's TSS2_RC goes through here: on failure, name the step and the decoded RC. */
#define CHECK(step, call)                                                                 \
    do {                                                                                  \
        TSS2_RC rc_ = (call);                                                             \
        if (rc_ != TSS2_RC_SUCCESS) {                                                     \
            fprintf(stderr, "esys_sign: %s failed: 0x%08x %s\n", step, rc_, Tss2_RC_Decode(rc_)); \
            goto out;                                                                     \
        }                                                                                 \
    } while (0)

static void print_hex(const char *key, const BYTE *data, size_t size, const char *end) {
    printf("\"%s\": \"", key);
    for (size_t i = 0; i < size; i++) printf("%02x", data[i]);
    printf("\"%s", end);
}

/* An ECC P-256 key under the owner hierarchy: a restricted decryption (storage) key for the
 * primary, an unrestricted ECDSA/SHA-256 signing key for the child. */
static TPM2B_PUBLIC ecc_template(int storage) {
    TPM2B_PUBLIC t = {0};
    t.publicArea.type = TPM2_ALG_ECC;
    t.publicArea.nameAlg = TPM2_ALG_SHA256;
    t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH;
    TPMS_ECC_PARMS *ecc = &t.publicArea.parameters.eccDetail;
    ecc->curveID = TPM2_ECC_NIST_P256;
    ecc->kdf.scheme = TPM2_ALG_NULL;
    if (storage) {
        t.publicArea.objectAttributes |= TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
        ecc->symmetric.algorithm = TPM2_ALG_AES;
        ecc->symmetric.keyBits.aes = 128;
        ecc->symmetric.mode.aes = TPM2_ALG_CFB;
        ecc->scheme.scheme = TPM2_ALG_NULL;
    } else {
        t.publicArea.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
        ecc->symmetric.algorithm = TPM2_ALG_NULL;
        ecc->scheme.scheme = TPM2_ALG_ECDSA;
        ecc->scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    }
    return t;
}

int main(int argc, char **argv) {
    const char *tcti_conf = getenv("TPM2TOOLS_TCTI");
    const char *message = "hello from utpm";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-T") && i + 1 < argc) {
            tcti_conf = argv[++i];
        } else if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            message = argv[++i];
        } else {
            fprintf(stderr, "usage: esys_sign [-T TCTI] [-m MESSAGE]\n");
            return 2;
        }
    }
    if (strlen(message) > TPM2_MAX_DIGEST_BUFFER) {
        fprintf(stderr, "esys_sign: message longer than %d bytes\n", TPM2_MAX_DIGEST_BUFFER);
        return 2;
    }

    int status = 1;
    TSS2_TCTI_CONTEXT *tcti = NULL;
    ESYS_CONTEXT *esys = NULL;
    ESYS_TR primary = ESYS_TR_NONE, key = ESYS_TR_NONE;
    TPML_PCR_SELECTION *pcr_sel_out = NULL;
    TPML_DIGEST *pcr_values = NULL;
    TPM2B_PUBLIC *primary_pub = NULL, *key_pub = NULL;
    TPM2B_PRIVATE *key_priv = NULL;
    TPM2B_CREATION_DATA *creation_data = NULL;
    TPM2B_DIGEST *creation_hash = NULL, *digest = NULL;
    TPMT_TK_CREATION *creation_ticket = NULL;
    TPMT_TK_HASHCHECK *hash_ticket = NULL;
    TPMT_SIGNATURE *signature = NULL;
    TPMT_TK_VERIFIED *verified = NULL;

    CHECK("Tss2_TctiLdr_Initialize", Tss2_TctiLdr_Initialize(tcti_conf, &tcti));
    CHECK("Esys_Initialize", Esys_Initialize(&esys, tcti, NULL));

    /* 1. Start the TPM. */
    TSS2_RC rc = Esys_Startup(esys, TPM2_SU_CLEAR);
    if (rc != TSS2_RC_SUCCESS && rc != TPM2_RC_INITIALIZE) CHECK("Esys_Startup", rc);

    /* 2. Read PCRs 0, 7 and 16 of the SHA-256 bank. */
    TPML_PCR_SELECTION pcr_sel = {.count = 1};
    pcr_sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    pcr_sel.pcrSelections[0].sizeofSelect = 3;
    pcr_sel.pcrSelections[0].pcrSelect[0] = 0x81; /* PCR 0 and 7 */
    pcr_sel.pcrSelections[0].pcrSelect[2] = 0x01; /* PCR 16 */
    UINT32 update_counter = 0;
    CHECK("Esys_PCR_Read", Esys_PCR_Read(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pcr_sel,
                                         &update_counter, &pcr_sel_out, &pcr_values));
    static const int pcr_index[] = {0, 7, 16};
    if (pcr_values->count != 3) {
        fprintf(stderr, "esys_sign: the TPM returned %u PCR values, expected 3\n", pcr_values->count);
        goto out;
    }

    /* 3. Create a storage primary and a signing key under it. */
    TPM2B_SENSITIVE_CREATE no_auth = {0};
    TPM2B_DATA outside_info = {0};
    TPML_PCR_SELECTION creation_pcr = {0};
    TPM2B_PUBLIC primary_template = ecc_template(1);
    CHECK("Esys_CreatePrimary",
          Esys_CreatePrimary(esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                             &no_auth, &primary_template, &outside_info, &creation_pcr, &primary,
                             &primary_pub, &creation_data, &creation_hash, &creation_ticket));
    Esys_Free(creation_data), creation_data = NULL;
    Esys_Free(creation_hash), creation_hash = NULL;
    Esys_Free(creation_ticket), creation_ticket = NULL;

    TPM2B_PUBLIC key_template = ecc_template(0);
    CHECK("Esys_Create", Esys_Create(esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &no_auth, &key_template, &outside_info, &creation_pcr, &key_priv,
                                     &key_pub, &creation_data, &creation_hash, &creation_ticket));
    CHECK("Esys_Load", Esys_Load(esys, primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 key_priv, key_pub, &key));

    /* 4. Hash the message in the TPM, sign the digest, let the TPM verify the signature. */
    TPM2B_MAX_BUFFER data = {.size = (UINT16)strlen(message)};
    memcpy(data.buffer, message, data.size);
    CHECK("Esys_Hash", Esys_Hash(esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &data,
                                 TPM2_ALG_SHA256, ESYS_TR_RH_OWNER, &digest, &hash_ticket));
    TPMT_SIG_SCHEME scheme = {.scheme = TPM2_ALG_ECDSA};
    scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    CHECK("Esys_Sign", Esys_Sign(esys, key, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, digest,
                                 &scheme, hash_ticket, &signature));
    CHECK("Esys_VerifySignature", Esys_VerifySignature(esys, key, ESYS_TR_NONE, ESYS_TR_NONE,
                                                       ESYS_TR_NONE, digest, signature, &verified));

    /* 5. Report. */
    const TPMS_ECC_POINT *q = &key_pub->publicArea.unique.ecc;
    const TPMS_SIGNATURE_ECC *sig = &signature->signature.ecdsa;
    printf("{\"pcrs\": {\"sha256\": {");
    for (UINT32 i = 0; i < pcr_values->count; i++) {
        char name[8];
        snprintf(name, sizeof name, "%d", pcr_index[i]);
        print_hex(name, pcr_values->digests[i].buffer, pcr_values->digests[i].size,
                  i + 1 < pcr_values->count ? ", " : "");
    }
    printf("}}, \"key\": {\"curve\": \"P-256\", ");
    print_hex("x", q->x.buffer, q->x.size, ", ");
    print_hex("y", q->y.buffer, q->y.size, "}, ");
    print_hex("message", (const BYTE *)message, strlen(message), ", ");
    print_hex("digest", digest->buffer, digest->size, ", ");
    printf("\"signature\": {\"scheme\": \"ecdsa-sha256\", ");
    print_hex("r", sig->signatureR.buffer, sig->signatureR.size, ", ");
    print_hex("s", sig->signatureS.buffer, sig->signatureS.size, "}, ");
    printf("\"verified_by_tpm\": %s}\n", verified->tag == TPM2_ST_VERIFIED ? "true" : "false");
    status = 0;

out:
    if (esys) {
        if (key != ESYS_TR_NONE) Esys_FlushContext(esys, key);
        if (primary != ESYS_TR_NONE) Esys_FlushContext(esys, primary);
    }
    Esys_Free(pcr_sel_out);
    Esys_Free(pcr_values);
    Esys_Free(primary_pub);
    Esys_Free(key_pub);
    Esys_Free(key_priv);
    Esys_Free(creation_data);
    Esys_Free(creation_hash);
    Esys_Free(creation_ticket);
    Esys_Free(digest);
    Esys_Free(hash_ticket);
    Esys_Free(signature);
    Esys_Free(verified);
    if (esys) Esys_Finalize(&esys);
    if (tcti) Tss2_TctiLdr_Finalize(&tcti);
    return status;
}
