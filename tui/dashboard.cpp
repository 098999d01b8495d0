// The ncurses side of the dashboard, and the only file in nightshift that includes <ncurses.h>:
// terminal setup and teardown (RAII plus signal handlers), the sample/draw/key loop, and copying
// a rendered Canvas to the screen.
#include "tui/dashboard.h"

#include <langinfo.h>
#include <ncurses.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <clocale>
#include <csignal>
#include <cstdlib>
#include <cstring>

#include "common/check.h"
#include "tui/keys.h"
#include "tui/screen.h"

namespace tui {
namespace {

// Process-wide terminal state for the signal handlers (only async-signal-safe work in them).
std::atomic<bool> g_active{false};
std::atomic<bool> g_interrupted{false};
struct termios g_saved_termios;
bool g_have_termios = false;
char g_reset_sequence[256];
size_t g_reset_length = 0;

constexpr int kInterruptSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr int kFatalSignals[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};

extern "C" void on_interrupt(int) { g_interrupted.store(true); }

extern "C" void on_fatal(int sig) {
  if (g_have_termios) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
  if (g_reset_length) {
    ssize_t ignored = write(STDOUT_FILENO, g_reset_sequence, g_reset_length);
    (void)ignored;
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void append_capability(const char* name) {
  char* s = tigetstr(const_cast<char*>(name));
  if (s == nullptr || s == reinterpret_cast<char*>(-1)) return;
  size_t n = std::strlen(s);
  if (g_reset_length + n >= sizeof g_reset_sequence) return;
  std::memcpy(g_reset_sequence + g_reset_length, s, n);
  g_reset_length += n;
}

enum ColorPair : short { kPairTitle = 1, kPairGood, kPairWarn, kPairAlert };

class TerminalSession {
 public:
  static common::Result<std::unique_ptr<TerminalSession>> start(const DashboardOptions& options) {
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
      return common::Status::Unavailable(
          "the dashboard needs a terminal (stdin and stdout must be a tty); `nightshift top RUN_DIR --print` "
          "prints one frame as text");
    }
    bool expected = false;
    CHECK_MSG(g_active.compare_exchange_strong(expected, true), "only one dashboard per process");
    auto session = std::unique_ptr<TerminalSession>(new TerminalSession());
    // Only the character type: numbers keep the "C" format everywhere else in the program.
    std::setlocale(LC_CTYPE, "");
    session->utf8_ = std::strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    g_have_termios = tcgetattr(STDIN_FILENO, &g_saved_termios) == 0;
    session->screen_ = newterm(nullptr, stdout, stdin);
    if (session->screen_ == nullptr) {
      const char* term = std::getenv("TERM");
      return common::Status::Unavailable(std::string("cannot initialise the terminal (TERM=") +
                                         (term ? term : "unset") + ")");
    }
    set_term(session->screen_);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    set_escdelay(25);
    timeout(options.refresh_ms);
    if (options.color && has_colors() && std::getenv("NO_COLOR") == nullptr) {
      start_color();
      use_default_colors();
      init_pair(kPairTitle, COLOR_CYAN, -1);
      init_pair(kPairGood, COLOR_GREEN, -1);
      init_pair(kPairWarn, COLOR_YELLOW, -1);
      init_pair(kPairAlert, COLOR_RED, -1);
      session->colors_ = true;
    }
    g_reset_length = 0;
    for (const char* cap : {"sgr0", "cnorm", "rmcup"}) append_capability(cap);
    g_interrupted.store(false);
    session->install_handlers(options.handle_interrupt_signals);
    return session;
  }

  ~TerminalSession() {
    if (screen_) {
      endwin();
      delscreen(screen_);
    }
    for (size_t i = 0; i < saved_.size(); ++i) {
      if (saved_[i].installed) sigaction(saved_[i].sig, &saved_[i].old, nullptr);
    }
    if (g_have_termios) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_termios);
    g_active.store(false);
  }
  TerminalSession(const TerminalSession&) = delete;
  TerminalSession& operator=(const TerminalSession&) = delete;

  bool utf8() const { return utf8_; }

  attr_t attributes(Style style) const {
    switch (style) {
      case Style::kNormal: return A_NORMAL;
      case Style::kBold: return A_BOLD;
      case Style::kDim: return colors_ ? A_DIM : A_NORMAL;
      case Style::kTitle: return A_BOLD | (colors_ ? COLOR_PAIR(kPairTitle) : 0);
      case Style::kGood: return colors_ ? COLOR_PAIR(kPairGood) : A_NORMAL;
      case Style::kWarn: return A_BOLD | (colors_ ? COLOR_PAIR(kPairWarn) : 0);
      case Style::kAlert: return A_BOLD | (colors_ ? COLOR_PAIR(kPairAlert) : A_UNDERLINE);
      case Style::kInverse: return A_REVERSE;
    }
    return A_NORMAL;
  }

  // Copy a rendered canvas to the screen in runs of equal style; curses sends only the changes.
  void draw(const Canvas& canvas) {
    erase();
    for (int y = 0; y < canvas.height(); ++y) {
      int x = 0;
      while (x < canvas.width()) {
        Style style = canvas.style(x, y);
        int start = x;
        std::string run;
        while (x < canvas.width() && canvas.style(x, y) == style) run += canvas.glyph(x++, y);
        attrset(attributes(style));
        mvaddstr(y, start, run.c_str());
      }
    }
    attrset(A_NORMAL);
    refresh();
  }

 private:
  TerminalSession() = default;

  struct Saved {
    int sig = 0;
    bool installed = false;
    struct sigaction old {};
  };

  void install_handlers(bool interrupts) {
    auto install = [&](int sig, void (*handler)(int)) {
      struct sigaction sa {};
      sa.sa_handler = handler;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = 0;  // no SA_RESTART: getch returns so the loop sees the flag at once
      Saved s;
      s.sig = sig;
      s.installed = sigaction(sig, &sa, &s.old) == 0;
      saved_.push_back(s);
    };
    if (interrupts) {
      for (int sig : kInterruptSignals) install(sig, on_interrupt);
    }
    for (int sig : kFatalSignals) install(sig, on_fatal);
  }

  SCREEN* screen_ = nullptr;
  bool utf8_ = false;
  bool colors_ = false;
  std::vector<Saved> saved_;
};

}  // namespace

common::Result<DashboardExit> run_dashboard(const SnapshotFn& sample, CommandQueue& commands,
                                            const DashboardOptions& options, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  NS_ASSIGN_OR_RETURN(std::unique_ptr<TerminalSession> session, TerminalSession::start(options));
  ViewState view;
  view.ascii = options.ascii || !session->utf8();
  view.attached = options.attached;
  view.log_scale = options.log_scale;
  std::shared_ptr<const DashboardModel> model = std::make_shared<DashboardModel>();
  const auto period = std::chrono::milliseconds(options.refresh_ms);
  auto next_sample = Clock::now();
  auto message_until = Clock::time_point::max();
  bool dirty = true;
  for (;;) {
    if (g_interrupted.load()) return DashboardExit::kInterrupted;
    if (stop && stop->load()) return DashboardExit::kStopped;
    auto now = Clock::now();
    if (now >= next_sample) {
      if (auto latest = sample()) model = std::move(latest);
      next_sample = now + period;
      dirty = true;
      if (view.quit_requested && model->finished) return DashboardExit::kQuit;
    }
    if (now >= message_until) {
      view.message.clear();
      message_until = Clock::time_point::max();
      dirty = true;
    }
    if (dirty) {
      int height = 0, width = 0;
      getmaxyx(stdscr, height, width);
      session->draw(render_screen(*model, view, width, height));
      dirty = false;
    }
    int ch = getch();
    if (ch == ERR) continue;
    int key = ch == KEY_RESIZE ? kKeyResize : ch;
    std::string before = view.message;
    unsigned reaction = handle_key(key, *model, view, commands);
    if (reaction & kReactQuit) return DashboardExit::kQuit;
    if (reaction & kReactDetach) return DashboardExit::kDetached;
    if (reaction & kReactResample) next_sample = Clock::now() + std::chrono::milliseconds(50);
    if (view.message != before) message_until = Clock::now() + std::chrono::seconds(5);
    if (key == kKeyRefresh) clearok(curscr, TRUE);
    if (reaction & kReactRedraw) dirty = true;
  }
}

}  // namespace tui
