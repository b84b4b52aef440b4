// Every word of the waiting room, in one object: a translation is a copy of
// this file. Entries that take a number are functions, so that each language
// can say its own plurals. The server paints the page before (or without)
// its script with the plain words: keep each on one line, in single quotes
// ({event} is the event's name).
window.TQ_STRINGS = {
  lang: 'en',
  title: 'Waiting room',
  pageTitle: 'Waiting room – {event}',
  eventLabel: 'Event: {event}',

  states: {
    loading: 'Checking your place…',
    none: 'Join the line to get your turn.',
    waiting: 'You are in line.',
    paused: 'The line is paused.',
    admitted: 'It is your turn!',
    confirmed: 'Your booking is confirmed. Enjoy!',
    expired: 'Your place has expired.',
    left: 'You are no longer in line.',
    seat_given_up: 'You gave up your seat.',
    seat_released: 'You no longer hold a seat.',
    closed: 'This event is closed.',
    sold_out: 'Sorry, there is no place left: the line is full. Seats that come back go to those in line; try again later.',
    unknown: 'There is no such event.',
  },
  notices: {
    paused: 'The line is paused for a moment. You keep your place.',
    pausedJoin: 'The line is paused for a moment: you can join now and keep your place.',
    closedKeepPlace: 'The event is closed to newcomers. You keep your place.',
    hold_ended: 'Your time to book ran out and the seat went to the next person.',
    not_in_line: 'You were away too long and lost your place.',
    left: 'You left the line.',
    seat_given_up: 'It goes to the next person in line.',
    seat_released: 'Your seat was given back and goes to the next person in line.',
    superseded: 'You joined again from another page; this one is out of date.',
    unknown: 'Check the address you were given: no event of this name is taking place here.',
    keepOpen: 'Keep this page open: it updates by itself.',
  },

  noScript: 'This page needs JavaScript to join or leave the line and to update by itself.',
  refresh: 'Refresh to see your place now.',

  positionLabel: 'Your place in line',
  progressLabel: 'Progress to the front',
  progressOf: 'Ahead of you when you joined: {of}. Gone since: {passed}.',
  etaLabel: 'Estimated wait',
  etaUnknown: 'unknown',
  etaSoon: 'less than a minute',
  etaMinutes: (n) => (n === 1 ? 'about 1 minute' : `about ${n} minutes`),
  etaHours: (h, m) =>
    `about ${h} hour${h === 1 ? '' : 's'}` + (m > 0 ? ` ${m} minute${m === 1 ? '' : 's'}` : ''),
  announcePosition: (n) => `You are now number ${n} in line.`,

  join: 'Join the line',
  joinAgain: 'Join the line again',
  leave: 'Leave the line',
  giveBack: 'Give up my seat',
  continueToBooking: 'Continue to booking',
  admittedNoLink: 'Go to the booking site now and book your seat. Keep this page open until you have booked.',
  codeSummary: 'Admission code (if the booking site asks for it)',
  codeHelp: 'A code that proves your turn came. Copy it only if the booking site asks you to paste it.',
  tokenLabel: 'Admission code',
  copy: 'Copy code',
  copied: 'Copied.',
  copyFailed: 'Could not copy: select the code and copy it by hand.',
  heldUntil: (time) => `Your seat is held for you until ${time}.`,
  heldNoLimit: 'Your seat is held for you.',
  heldLimited: 'Your seat is held for you for a limited time.',

  busy: (s) => `The waiting room is very busy. Trying again in ${s} s…`,
  offline: (s) => `Cannot reach the waiting room. Trying again in ${s} s…`,
  failed: 'Something went wrong. Please reload the page.',

  modeLabel: 'Updates:',
  modeLive: 'live',
  modePolling: 'polling',
};
