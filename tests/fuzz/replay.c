/* tests/fuzz/replay.c: main() for fuzz drivers in builds without libFuzzer: feeds every file
 * of the directories given on the command line to LLVMFuzzerTestOneInput once, then (with
 * `-mutate=N`) N deterministic mutants of each file — bit flips, byte overwrites with
 * interesting values, truncation, duplication of a slice, insertion of a random run — so
 * ./test does a bounded, repeatable fuzz even without clang. Same seed, same inputs: a failure
 * reproduces with the same command. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned mutations;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: deterministic, good enough to pick offsets */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

/* One mutant of in[0..n) into out (capacity cap >= 2n + 64); returns its length. */
static size_t mutate(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    static const uint8_t interesting[] = {0,   1,   0x7f, 0x80, 0xff, '"', '\\', '{',  '}',  '[',
                                          ']', ',', ':',  '-',  '0',  '9', '%',  '\n', '\r', ' '};
    size_t len = n, k = 1 + rnd() % 4;

    memcpy(out, in, n);
    while (k--) {
        size_t at = len ? rnd() % len : 0;
        switch (rnd() % 6) {
        case 0: /* bit flip */
            if (len)
                out[at] ^= (uint8_t)(1u << (rnd() % 8));
            break;
        case 1: /* interesting byte */
            if (len)
                out[at] = interesting[rnd() % sizeof interesting];
            break;
        case 2: /* truncate */
            len = at;
            break;
        case 3: { /* duplicate a slice */
            size_t sl = len - at < 16 ? len - at : 1 + rnd() % 16;
            if (len + sl <= cap && sl) {
                memmove(out + at + sl, out + at, len - at);
                len += sl;
            }
            break;
        }
        case 4: { /* insert a random run */
            size_t sl = 1 + rnd() % 8;
            if (len + sl <= cap) {
                memmove(out + at + sl, out + at, len - at);
                for (size_t i = 0; i < sl; i++)
                    out[at + i] = (uint8_t)rnd();
                len += sl;
            }
            break;
        }
        default: /* delete a byte */
            if (len) {
                memmove(out + at, out + at + 1, len - at - 1);
                len--;
            }
            break;
        }
    }
    return len;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;

    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    if (mutations) {
        size_t cap = 2 * (size_t)n + 64;
        uint8_t *m = malloc(cap);
        if (!m) {
            free(buf);
            return -1;
        }
        rng_state = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
        for (const char *c = path; *c; c++)
            rng_state = rng_state * 31 + (uint8_t)*c;
        for (unsigned i = 0; i < mutations; i++) {
            size_t ml = mutate(buf, (size_t)n, m, cap);
            /* A fresh copy of exactly ml bytes, so ASan sees any read past the input. */
            uint8_t *exact = malloc(ml ? ml : 1);
            if (!exact)
                break;
            memcpy(exact, m, ml);
            LLVMFuzzerTestOneInput(exact, ml);
            free(exact);
        }
        free(m);
    }
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;

    for (int i = 1; i < argc; i++) {
        DIR *d;
        if (strncmp(argv[i], "-mutate=", 8) == 0) {
            mutations = (unsigned)strtoul(argv[i] + 8, NULL, 10);
            continue;
        }
        d = opendir(argv[i]);
        struct dirent *de;
        if (!d) {
            fprintf(stderr, "replay: cannot open %s\n", argv[i]);
            return 1;
        }
        while ((de = readdir(d))) {
            char path[4096];
            if (de->d_name[0] == '.')
                continue;
            snprintf(path, sizeof path, "%s/%s", argv[i], de->d_name);
            if (run_file(path) == 0)
                files++;
        }
        closedir(d);
    }
    printf("replayed %d inputs, %u mutants of each\n", files, mutations);
    return files > 0 ? 0 : 1;
}
