// llama.cpp reference harness: a small C program linked against the prebuilt llama.cpp libraries
// of the npm package @node-llama-cpp/linux-x64 (installed by scripts/setup.sh), so tests can ask
// llama.cpp itself for logits, losses, greedy continuations, tokenizations and ggml's quantizers.
// Every command prints one JSON object on stdout; errors go to stderr with exit code 2.
//
//   harness eval --model M.gguf [--lora A.gguf [--lora-scale S]] --ids 1,2,3 [--greedy N]
//                [--top-k K] [--logits] [--threads T]
//       {"n_vocab", "n_tokens", "nll" (mean next-token NLL over ids[1..]), "positions": [{"top":
//        [[id, logit], ...], "sum", "sumsq"}], "logits": [[...]] with --logits, "greedy": [ids]}
//   harness nll --model M.gguf [--lora A.gguf [--lora-scale S]] --ids 1,2,3 --window T [--threads T]
//       {"n_vocab", "windows", "window_nll": [...], "nll"}: ids cut into consecutive windows of T+1
//       ids (window w is ids[wT .. wT+T]), each decoded from an empty cache; "nll" is the mean over
//       windows of each window's mean next-token NLL (as `nightshift eval --seq T` scores a text).
//   harness tokenize --model M.gguf --text-file F [--bos] [--special] [--split]
//       {"ids": [...], "n_vocab", "add_bos"}  (--bos adds BOS/EOS as the vocab says; --special parses
//       special tokens in the text); loads the vocabulary only. With --split, F is a
//       models/ggml-vocab-*.gguf.inp file and the answer is {"items": [[ids of item 0], ...]}.
//   harness chat-template --messages-file F (--template-file T | --model M.gguf) [--add-ass] [--bos]
//       llama_chat_apply_template with the template of T (or of the GGUF, or a built-in name in T)
//       over the messages of F: role and content items, each followed by "\n__ggml_chat_msg__\n"
//       (role, content, role, content...); {"text": the rendering}. With --model the rendering is
//       also tokenized by the GGUF's vocabulary with special tokens parsed ("ids"; --bos adds BOS/EOS
//       as the vocab says).
//   harness quantize --type q4_K --cols N --in X.f32 --out Y.bin
//       ggml_quantize_chunk without an importance matrix (ggml's reference quantizers); {"bytes"}
//   harness dequantize --type q4_K --n N --in Y.bin --out X.f32
//       ggml's to_float of the type; {"values"}
//   harness model-quantize --in A.gguf --out B.gguf --ftype Q4_K_M|Q5_K_M|Q6_K|Q3_K_M|Q2_K|Q8_0|Q4_0|F16|BF16 [--pure]
//       llama_model_quantize (what llama-quantize runs); {"ok": true}
// The CPU backends are loaded from the folder of the libraries (ggml_backend_load_all_from_path),
// which NS_LLAMACPP_BINS names at build time or the NS_LLAMACPP_BINS environment variable overrides.
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "llama.h"

static bool g_verbose = false;

static void quiet_log(enum ggml_log_level level, const char* text, void* user) {
  (void)user;
  if (g_verbose || level == GGML_LOG_LEVEL_ERROR) fputs(text, stderr);
}

static void die(const char* what, const char* arg) {
  fprintf(stderr, "harness: %s%s%s\n", what, arg ? ": " : "", arg ? arg : "");
  exit(2);
}

static const char* opt(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}
static bool flag(int argc, char** argv, const char* name) {
  for (int i = 2; i < argc; ++i)
    if (strcmp(argv[i], name) == 0) return true;
  return false;
}

static void* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) die("cannot open", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* buf = malloc((size_t)n + 1);
  if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) die("cannot read", path);
  fclose(f);
  ((char*)buf)[n] = 0;
  *size = (size_t)n;
  return buf;
}
static void write_file(const char* path, const void* data, size_t size) {
  FILE* f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) die("cannot write", path);
}

static enum ggml_type type_by_name(const char* name) {
  for (int t = 0; t < GGML_TYPE_COUNT; ++t) {
    const char* n = ggml_type_name((enum ggml_type)t);
    if (n && strcasecmp(n, name) == 0) return (enum ggml_type)t;
  }
  die("unknown ggml type", name);
  return GGML_TYPE_F32;
}

static void load_backends(void) {
  const char* dir = getenv("NS_LLAMACPP_BINS");
#ifdef NS_LLAMACPP_BINS
  if (!dir) dir = NS_LLAMACPP_BINS;
#endif
  if (!dir) die("NS_LLAMACPP_BINS is not set", NULL);
  ggml_backend_load_all_from_path(dir);
}

// Parses "1,2,3" into a malloc'd array.
static llama_token* parse_ids(const char* text, int* n) {
  int cap = 16, k = 0;
  llama_token* ids = malloc(sizeof(llama_token) * (size_t)cap);
  const char* p = text;
  while (*p) {
    char* end;
    long v = strtol(p, &end, 10);
    if (end == p) die("bad --ids", text);
    if (k == cap) ids = realloc(ids, sizeof(llama_token) * (size_t)(cap *= 2));
    ids[k++] = (llama_token)v;
    p = *end == ',' ? end + 1 : end;
  }
  *n = k;
  return ids;
}

static struct llama_model* load_model(const char* path, bool vocab_only) {
  struct llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  mp.vocab_only = vocab_only;
  struct llama_model* model = llama_model_load_from_file(path, mp);
  if (!model) die("llama.cpp could not load the model", path);
  return model;
}

// --lora A.gguf [--lora-scale S]: applies the adapter to ctx.
static void attach_lora(int argc, char** argv, struct llama_model* model, struct llama_context* ctx) {
  const char* lora_path = opt(argc, argv, "--lora", NULL);
  if (!lora_path) return;
  struct llama_adapter_lora* lora = llama_adapter_lora_init(model, lora_path);
  if (!lora) die("llama.cpp could not load the adapter", lora_path);
  float scale = (float)atof(opt(argc, argv, "--lora-scale", "1"));
  if (llama_set_adapters_lora(ctx, &lora, 1, &scale) != 0) die("llama_set_adapters_lora failed", lora_path);
}

// A context for sequences of up to n_ctx tokens, all decoded in one batch.
static struct llama_context* make_context(struct llama_model* model, int n_ctx, int threads, const char* path) {
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = (uint32_t)n_ctx;
  cp.n_batch = cp.n_ctx;
  cp.n_ubatch = cp.n_ctx;
  cp.n_threads = threads;
  cp.n_threads_batch = threads;
  cp.no_perf = true;
  struct llama_context* ctx = llama_init_from_model(model, cp);
  if (!ctx) die("llama.cpp could not create a context for", path);
  return ctx;
}

static int cmd_nll(int argc, char** argv) {
  const char* model_path = opt(argc, argv, "--model", NULL);
  const char* ids_text = opt(argc, argv, "--ids", NULL);
  const int T = atoi(opt(argc, argv, "--window", "0"));
  if (!model_path || !ids_text || T < 1) die("nll needs --model, --ids and --window", NULL);
  int n = 0;
  llama_token* ids = parse_ids(ids_text, &n);
  const int windows = (n - 1) / T;
  if (windows < 1) die("nll: fewer ids than one window", ids_text);

  load_backends();
  struct llama_model* model = load_model(model_path, false);
  const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  struct llama_context* ctx = make_context(model, T + 8, atoi(opt(argc, argv, "--threads", "2")), model_path);
  attach_lora(argc, argv, model, ctx);
  struct llama_batch batch = llama_batch_init(T + 1, 0, 1);
  printf("{\"n_vocab\": %d, \"windows\": %d, \"window_nll\": [", n_vocab, windows);
  double total = 0;
  for (int w = 0; w < windows; ++w) {
    const llama_token* win = ids + (size_t)w * (size_t)T;
    llama_memory_clear(llama_get_memory(ctx), true);
    for (int i = 0; i <= T; ++i) {
      batch.token[i] = win[i];
      batch.pos[i] = i;
      batch.n_seq_id[i] = 1;
      batch.seq_id[i][0] = 0;
      batch.logits[i] = 1;
    }
    batch.n_tokens = T + 1;
    if (llama_decode(ctx, batch) != 0) die("llama_decode failed on", model_path);
    double nll = 0;
    for (int i = 0; i < T; ++i) {
      const float* lg = llama_get_logits_ith(ctx, i);
      double mx = -INFINITY, z = 0;
      for (int v = 0; v < n_vocab; ++v)
        if (lg[v] > mx) mx = lg[v];
      for (int v = 0; v < n_vocab; ++v) z += exp((double)lg[v] - mx);
      nll += mx + log(z) - lg[win[i + 1]];
    }
    printf("%s%.17g", w ? ", " : "", nll / T);
    total += nll / T;
  }
  printf("], \"nll\": %.17g}\n", total / windows);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  free(ids);
  return 0;
}

static int cmd_eval(int argc, char** argv) {
  const char* model_path = opt(argc, argv, "--model", NULL);
  const char* ids_text = opt(argc, argv, "--ids", NULL);
  if (!model_path || !ids_text) die("eval needs --model and --ids", NULL);
  const int greedy = atoi(opt(argc, argv, "--greedy", "0"));
  const int top_k = atoi(opt(argc, argv, "--top-k", "5"));
  const int threads = atoi(opt(argc, argv, "--threads", "2"));
  const bool all_logits = flag(argc, argv, "--logits");
  int n = 0;
  llama_token* ids = parse_ids(ids_text, &n);
  if (n < 1) die("--ids is empty", NULL);

  load_backends();
  struct llama_model* model = load_model(model_path, false);
  const struct llama_vocab* vocab = llama_model_get_vocab(model);
  const int n_vocab = llama_vocab_n_tokens(vocab);
  struct llama_context* ctx = make_context(model, n + greedy + 8, threads, model_path);
  attach_lora(argc, argv, model, ctx);

  struct llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = ids[i];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = n;
  if (llama_decode(ctx, batch) != 0) die("llama_decode failed on", model_path);

  printf("{\"n_vocab\": %d, \"n_tokens\": %d, \"positions\": [", n_vocab, n);
  double nll = 0;
  int* top = malloc(sizeof(int) * (size_t)(top_k > 0 ? top_k : 1));
  for (int i = 0; i < n; ++i) {
    const float* lg = llama_get_logits_ith(ctx, i);
    double sum = 0, sumsq = 0, mx = -INFINITY;
    for (int v = 0; v < n_vocab; ++v) {
      sum += lg[v];
      sumsq += (double)lg[v] * lg[v];
      if (lg[v] > mx) mx = lg[v];
    }
    if (i + 1 < n) {
      double z = 0;
      for (int v = 0; v < n_vocab; ++v) z += exp((double)lg[v] - mx);
      nll += mx + log(z) - lg[ids[i + 1]];
    }
    int k = 0;  // the top_k largest, kept sorted by insertion (ties: lower id first)
    for (int v = 0; v < n_vocab && top_k > 0; ++v) {
      int pos;
      if (k < top_k) {
        pos = k++;
      } else if (lg[v] > lg[top[top_k - 1]]) {
        pos = top_k - 1;
      } else {
        continue;
      }
      while (pos > 0 && lg[top[pos - 1]] < lg[v]) {
        top[pos] = top[pos - 1];
        --pos;
      }
      top[pos] = v;
    }
    printf("%s{\"top\": [", i ? ", " : "");
    for (int j = 0; j < k; ++j) printf("%s[%d, %.9g]", j ? ", " : "", top[j], lg[top[j]]);
    printf("], \"sum\": %.17g, \"sumsq\": %.17g}", sum, sumsq);
  }
  printf("], \"nll\": %.17g", n > 1 ? nll / (n - 1) : 0.0);
  if (all_logits) {
    printf(", \"logits\": [");
    for (int i = 0; i < n; ++i) {
      const float* lg = llama_get_logits_ith(ctx, i);
      printf("%s[", i ? ", " : "");
      for (int v = 0; v < n_vocab; ++v) printf("%s%.9g", v ? ", " : "", lg[v]);
      printf("]");
    }
    printf("]");
  }
  printf(", \"greedy\": [");
  llama_token next = 0;
  for (int g = 0; g < greedy; ++g) {
    const float* lg = llama_get_logits_ith(ctx, -1);
    int best = 0;
    for (int v = 1; v < n_vocab; ++v)
      if (lg[v] > lg[best]) best = v;
    next = best;
    printf("%s%d", g ? ", " : "", next);
    if (g + 1 == greedy) break;
    struct llama_batch one = llama_batch_get_one(&next, 1);
    if (llama_decode(ctx, one) != 0) die("llama_decode failed while generating", NULL);
  }
  printf("]}\n");
  free(top);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  free(ids);
  return 0;
}

static int cmd_tokenize(int argc, char** argv) {
  const char* model_path = opt(argc, argv, "--model", NULL);
  const char* text_path = opt(argc, argv, "--text-file", NULL);
  if (!model_path || !text_path) die("tokenize needs --model and --text-file", NULL);
  size_t len = 0;
  char* text = read_file(text_path, &len);
  load_backends();
  struct llama_model* model = load_model(model_path, true);
  const struct llama_vocab* vocab = llama_model_get_vocab(model);
  const bool bos = flag(argc, argv, "--bos"), special = flag(argc, argv, "--special");
  const bool split = flag(argc, argv, "--split");
  printf("{\"n_vocab\": %d, \"add_bos\": %s, ", llama_vocab_n_tokens(vocab), llama_vocab_get_add_bos(vocab) ? "true" : "false");
  printf(split ? "\"items\": [" : "\"ids\": ");
  // With --split the text is items each followed by "\n__ggml_vocab_test__\n" (llama.cpp's
  // models/ggml-vocab-*.gguf.inp files); each item is tokenized on its own.
  static const char kSep[] = "\n__ggml_vocab_test__\n";
  char* item = text;
  int n_items = 0;
  while (item <= text + len) {
    char* sep = split ? strstr(item, kSep) : NULL;
    if (split && !sep) break;
    const int item_len = sep ? (int)(sep - item) : (int)(text + len - item);
    int cap = item_len + 16;
    llama_token* ids = malloc(sizeof(llama_token) * (size_t)cap);
    int n = llama_tokenize(vocab, item, item_len, ids, cap, bos, special);
    if (n < 0) {
      cap = -n;
      ids = realloc(ids, sizeof(llama_token) * (size_t)cap);
      n = llama_tokenize(vocab, item, item_len, ids, cap, bos, special);
    }
    if (n < 0) die("llama_tokenize failed on", text_path);
    printf("%s[", n_items++ ? ", " : "");
    for (int i = 0; i < n; ++i) printf("%s%d", i ? ", " : "", ids[i]);
    printf("]");
    free(ids);
    if (!split) break;
    item = sep + strlen(kSep);
  }
  printf(split ? "]}\n" : "}\n");
  free(text);
  llama_model_free(model);
  return 0;
}

// Prints `s` as a JSON string.
static void print_json_string(const char* s, size_t n) {
  putchar('"');
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c == '\n') printf("\\n");
    else if (c == '\t') printf("\\t");
    else if (c == '\r') printf("\\r");
    else if (c < 0x20) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static int cmd_chat_template(int argc, char** argv) {
  const char* messages_path = opt(argc, argv, "--messages-file", NULL);
  const char* template_path = opt(argc, argv, "--template-file", NULL);
  const char* model_path = opt(argc, argv, "--model", NULL);
  if (!messages_path || (!template_path && !model_path))
    die("chat-template needs --messages-file and --template-file or --model", NULL);
  size_t len = 0;
  char* text = read_file(messages_path, &len);
  // Split into items in place: role, content, role, content...
  static const char kSep[] = "\n__ggml_chat_msg__\n";
  char* items[512];
  int n_items = 0;
  for (char* item = text; n_items < 512;) {
    char* sep = strstr(item, kSep);
    if (!sep) break;
    *sep = '\0';
    items[n_items++] = item;
    item = sep + strlen(kSep);
  }
  if (n_items == 0 || n_items % 2 != 0) die("the messages file needs role and content items", messages_path);
  struct llama_chat_message chat[256];
  for (int i = 0; i < n_items / 2; ++i) {
    chat[i].role = items[2 * i];
    chat[i].content = items[2 * i + 1];
  }
  struct llama_model* model = NULL;
  const struct llama_vocab* vocab = NULL;
  char* tmpl = NULL;
  if (model_path) {
    load_backends();
    model = load_model(model_path, true);
    vocab = llama_model_get_vocab(model);
  }
  if (template_path) {
    size_t tlen = 0;
    tmpl = read_file(template_path, &tlen);
  }
  const char* used = tmpl ? tmpl : llama_model_chat_template(model, NULL);
  if (!used) die("the model has no chat template", model_path);
  const bool add_ass = flag(argc, argv, "--add-ass");
  int cap = (int)len * 2 + 1024;
  char* buf = malloc((size_t)cap);
  int n = llama_chat_apply_template(used, chat, (size_t)(n_items / 2), add_ass, buf, cap);
  if (n > cap) {
    cap = n + 1;
    buf = realloc(buf, (size_t)cap);
    n = llama_chat_apply_template(used, chat, (size_t)(n_items / 2), add_ass, buf, cap);
  }
  if (n < 0) die("llama_chat_apply_template does not know the template", template_path ? template_path : model_path);
  printf("{\"text\": ");
  print_json_string(buf, (size_t)n);
  if (vocab) {
    int id_cap = n + 16;
    llama_token* ids = malloc(sizeof(llama_token) * (size_t)id_cap);
    const bool bos = flag(argc, argv, "--bos");
    int k = llama_tokenize(vocab, buf, n, ids, id_cap, bos, true);
    if (k < 0) die("llama_tokenize failed on the rendering", NULL);
    printf(", \"ids\": [");
    for (int i = 0; i < k; ++i) printf("%s%d", i ? ", " : "", ids[i]);
    printf("]");
    free(ids);
    llama_model_free(model);
  }
  printf("}\n");
  free(buf);
  free(tmpl);
  free(text);
  return 0;
}

static int cmd_quantize(int argc, char** argv) {
  const char* in = opt(argc, argv, "--in", NULL);
  const char* out = opt(argc, argv, "--out", NULL);
  const char* tname = opt(argc, argv, "--type", NULL);
  const long cols = atol(opt(argc, argv, "--cols", "0"));
  if (!in || !out || !tname || cols <= 0) die("quantize needs --type, --cols, --in and --out", NULL);
  const enum ggml_type type = type_by_name(tname);
  size_t bytes = 0;
  float* src = read_file(in, &bytes);
  const long n = (long)(bytes / sizeof(float));
  if (n % cols != 0 || cols % ggml_blck_size(type) != 0) die("--cols does not fit the input and the type", tname);
  const long rows = n / cols;
  const size_t out_bytes = ggml_row_size(type, cols) * (size_t)rows;
  void* dst = malloc(out_bytes + 1);
  const size_t written = ggml_quantize_chunk(type, src, dst, 0, rows, cols, NULL);
  if (written != out_bytes) die("ggml_quantize_chunk wrote an unexpected size", tname);
  write_file(out, dst, written);
  printf("{\"bytes\": %zu}\n", written);
  free(src);
  free(dst);
  return 0;
}

static int cmd_dequantize(int argc, char** argv) {
  const char* in = opt(argc, argv, "--in", NULL);
  const char* out = opt(argc, argv, "--out", NULL);
  const char* tname = opt(argc, argv, "--type", NULL);
  const long n = atol(opt(argc, argv, "--n", "0"));
  if (!in || !out || !tname || n <= 0) die("dequantize needs --type, --n, --in and --out", NULL);
  const enum ggml_type type = type_by_name(tname);
  size_t bytes = 0;
  void* src = read_file(in, &bytes);
  if (n % ggml_blck_size(type) != 0 || ggml_row_size(type, n) != bytes) die("--n does not match the input's size", in);
  const struct ggml_type_traits* traits = ggml_get_type_traits(type);
  if (!traits->to_float) die("ggml has no to_float for", tname);
  float* dst = malloc(sizeof(float) * (size_t)n);
  traits->to_float(src, dst, n);
  write_file(out, dst, sizeof(float) * (size_t)n);
  printf("{\"values\": %ld}\n", n);
  free(src);
  free(dst);
  return 0;
}

static int cmd_model_quantize(int argc, char** argv) {
  static const struct { const char* name; enum llama_ftype ftype; } kFtypes[] = {
      {"F32", LLAMA_FTYPE_ALL_F32},         {"F16", LLAMA_FTYPE_MOSTLY_F16},      {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
      {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},    {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},    {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
      {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},    {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M},
      {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S}, {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
      {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
      {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
  };
  const char* in = opt(argc, argv, "--in", NULL);
  const char* out = opt(argc, argv, "--out", NULL);
  const char* fname = opt(argc, argv, "--ftype", NULL);
  if (!in || !out || !fname) die("model-quantize needs --in, --out and --ftype", NULL);
  struct llama_model_quantize_params qp = llama_model_quantize_default_params();
  bool found = false;
  for (size_t i = 0; i < sizeof(kFtypes) / sizeof(kFtypes[0]); ++i) {
    if (strcasecmp(kFtypes[i].name, fname) == 0) {
      qp.ftype = kFtypes[i].ftype;
      found = true;
    }
  }
  if (!found) die("unknown --ftype", fname);
  qp.nthread = atoi(opt(argc, argv, "--threads", "2"));
  qp.pure = flag(argc, argv, "--pure");
  load_backends();
  if (llama_model_quantize(in, out, &qp) != 0) die("llama_model_quantize failed on", in);
  printf("{\"ok\": true}\n");
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) die("usage: harness eval|nll|tokenize|chat-template|quantize|dequantize|model-quantize [options]", NULL);
  g_verbose = flag(argc, argv, "--verbose");
  llama_log_set(quiet_log, NULL);
  llama_backend_init();
  const char* cmd = argv[1];
  if (strcmp(cmd, "eval") == 0) return cmd_eval(argc, argv);
  if (strcmp(cmd, "nll") == 0) return cmd_nll(argc, argv);
  if (strcmp(cmd, "tokenize") == 0) return cmd_tokenize(argc, argv);
  if (strcmp(cmd, "chat-template") == 0) return cmd_chat_template(argc, argv);
  if (strcmp(cmd, "quantize") == 0) return cmd_quantize(argc, argv);
  if (strcmp(cmd, "dequantize") == 0) return cmd_dequantize(argc, argv);
  if (strcmp(cmd, "model-quantize") == 0) return cmd_model_quantize(argc, argv);
  die("unknown command", cmd);
  return 2;
}
