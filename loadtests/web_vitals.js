// Core Web Vitals measured inside the page with PerformanceObserver.
//
// Injected before any page script runs (Playwright add_init_script), so every observer is
// registered with `buffered: true` and also sees the entries the browser queued before it.
// The browser driver reads the values with `window.__odavlVitals.collect()` at the end of a
// visit, after the page has been hidden; collect() drains pending entries with takeRecords().
// quietForMs() tells the driver how long the page has shown no change, so it interacts only once
// the page has rendered.
//
// Definitions follow the published metric definitions (web.dev):
//  - LCP: start time of the last largest-contentful-paint candidate before the page was first
//    hidden or the first input; ms since navigation start.
//  - CLS: largest session window of layout shifts without recent input (a window ends after a
//    1 s gap or 5 s in total); unitless.
//  - INP: per interaction (interactionId), the longest event duration; INP is the worst
//    interaction, skipping one outlier per 50 interactions (the 98th percentile); ms.
//  - FID: first-input processingStart - startTime; ms. Chromium still reports first-input.
(() => {
  if (window.__odavlVitals) {
    return;
  }
  const EVENT_DURATION_THRESHOLD_MS = 16;
  const CLS_SESSION_GAP_MS = 1000;
  const CLS_SESSION_MAX_MS = 5000;
  const INTERACTIONS_PER_SKIPPED_OUTLIER = 50;

  const state = {
    firstHiddenTime: document.visibilityState === "hidden" ? 0 : Infinity,
    lcp: null,
    lcpElement: null,
    lcpSize: null,
    clsMax: 0,
    clsSession: 0,
    clsSessionFirst: null,
    clsSessionLast: null,
    layoutShiftCount: 0,
    fid: null,
    interactionDurations: new Map(),
    supported: PerformanceObserver.supportedEntryTypes || [],
    // Last time the page changed what it shows (DOM mutation, LCP candidate, layout shift).
    lastActivity: 0,
  };

  function noteActivity() {
    state.lastActivity = performance.now();
  }
  const observers = [];

  function observe(type, onEntries, extraOptions) {
    if (!state.supported.includes(type)) {
      return;
    }
    const observer = new PerformanceObserver((list) => onEntries(list.getEntries()));
    observer.observe(Object.assign({ type: type, buffered: true }, extraOptions || {}));
    observers.push([observer, onEntries]);
  }

  function describeElement(element) {
    if (!element) {
      return null;
    }
    let name = element.tagName.toLowerCase();
    if (element.id) {
      name += "#" + element.id;
    }
    return name;
  }

  function onLargestContentfulPaint(entries) {
    if (entries.length > 0) {
      noteActivity();
    }
    for (const entry of entries) {
      // A candidate painted after the page was hidden does not count (it was never seen).
      if (entry.startTime < state.firstHiddenTime) {
        state.lcp = entry.startTime;
        state.lcpElement = describeElement(entry.element);
        state.lcpSize = entry.size;
      }
    }
  }

  function onLayoutShift(entries) {
    for (const entry of entries) {
      if (entry.hadRecentInput) {
        continue;
      }
      state.layoutShiftCount += 1;
      noteActivity();
      const continuesSession =
        state.clsSessionFirst !== null &&
        entry.startTime - state.clsSessionLast < CLS_SESSION_GAP_MS &&
        entry.startTime - state.clsSessionFirst < CLS_SESSION_MAX_MS;
      if (continuesSession) {
        state.clsSession += entry.value;
      } else {
        state.clsSession = entry.value;
        state.clsSessionFirst = entry.startTime;
      }
      state.clsSessionLast = entry.startTime;
      state.clsMax = Math.max(state.clsMax, state.clsSession);
    }
  }

  function recordInteraction(entry) {
    if (!entry.interactionId) {
      return;
    }
    const previous = state.interactionDurations.get(entry.interactionId) || 0;
    state.interactionDurations.set(entry.interactionId, Math.max(previous, entry.duration));
  }

  function onEvent(entries) {
    entries.forEach(recordInteraction);
  }

  function onFirstInput(entries) {
    for (const entry of entries) {
      if (state.fid === null) {
        state.fid = entry.processingStart - entry.startTime;
      }
      // The first input is reported whatever its duration, so an interaction faster than
      // the event-timing threshold still counts towards INP.
      recordInteraction(entry);
    }
  }

  function interactionToNextPaint() {
    const durations = Array.from(state.interactionDurations.values()).sort((a, b) => b - a);
    if (durations.length === 0) {
      return null;
    }
    const count = Math.max(durations.length, performance.interactionCount || 0);
    const skipped = Math.floor(count / INTERACTIONS_PER_SKIPPED_OUTLIER);
    return durations[Math.min(skipped, durations.length - 1)];
  }

  function navigationTimings() {
    const navigation = performance.getEntriesByType("navigation")[0];
    if (!navigation) {
      return null;
    }
    // The document request as the browser timed it, from fetchStart (so a fresh connection's
    // set-up counts, as it does for any client) to the first and the last byte.
    return {
      document_ms: navigation.responseEnd - navigation.fetchStart,
      ttfb_ms: navigation.responseStart - navigation.fetchStart,
      dom_content_loaded_ms: navigation.domContentLoadedEventEnd,
      load_ms: navigation.loadEventEnd,
      transfer_bytes: navigation.transferSize,
    };
  }

  observe("largest-contentful-paint", onLargestContentfulPaint);
  observe("layout-shift", onLayoutShift);
  observe("event", onEvent, { durationThreshold: EVENT_DURATION_THRESHOLD_MS });
  observe("first-input", onFirstInput);

  new MutationObserver(noteActivity).observe(document, {
    childList: true,
    subtree: true,
    attributes: true,
    characterData: true,
  });

  document.addEventListener(
    "visibilitychange",
    () => {
      if (document.visibilityState === "hidden") {
        state.firstHiddenTime = Math.min(state.firstHiddenTime, performance.now());
      }
    },
    true,
  );

  window.__odavlVitals = {
    hasLcp() {
      return state.lcp !== null;
    },
    quietForMs() {
      return performance.now() - state.lastActivity;
    },
    interactionCount() {
      return state.interactionDurations.size;
    },
    collect() {
      for (const [observer, onEntries] of observers) {
        onEntries(observer.takeRecords());
      }
      return {
        lcp_ms: state.lcp,
        lcp_element: state.lcpElement,
        lcp_size: state.lcpSize,
        cls: state.clsMax,
        layout_shifts: state.layoutShiftCount,
        inp_ms: interactionToNextPaint(),
        fid_ms: state.fid,
        interactions: state.interactionDurations.size,
        navigation: navigationTimings(),
        supported: state.supported.slice(),
      };
    },
  };
})();
