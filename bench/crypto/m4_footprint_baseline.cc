// Baseline for m4_footprint: the same bare program without any crypto (C runtime only).
volatile unsigned char g_sink;
int main() {
  g_sink = 1;
  return 0;
}
