// Every word of the waiting room, in one object: a translation is a copy of
// this file. Entries that take a number are functions, so that each language
// can say its own plurals.
window.TQ_STRINGS = {
  lang: 'en',
  title: 'Waiting room',
  eventLabel: (event) => `Event: ${event}`,

  states: {
    loading: 'Checking your place…',
    none: 'Join the line to get your turn.',
    waiting: 'You are in line.',
    paused: 'The line is paused.',
    admitted: 'It is your turn!',
    confirmed: 'Your booking is confirmed. Enjoy!',
    expired: 'Your place has expired.',
    left: 'You are no longer in line.',
    closed: 'This event is closed.',
    sold_out: 'Sorry, this event is sold out.',
  },
  notices: {
    paused: 'The line is paused for a moment. You keep your place.',
    closedKeepPlace: 'The event is closed to newcomers. You keep your place.',
    hold_ended: 'Your time to book ran out and the seat went to the next person.',
    not_in_line: 'You were away too long and lost your place.',
    left: 'You left the line.',
    superseded: 'You joined again from another page; this one is out of date.',
    keepOpen: 'Keep this page open: it updates by itself.',
    soldOutJoin: 'The line is full. Please try again later.',
  },

  positionLabel: 'Your place in line',
  progressLabel: 'Progress to the front',
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
  tokenLabel: 'Your admission code: give it to the booking service',
  copy: 'Copy code',
  copied: 'Copied.',
  copyFailed: 'Could not copy: select the code and copy it by hand.',
  heldUntil: (time) => `Your seat is held for you until ${time}.`,
  heldNoLimit: 'Your seat is held for you.',

  busy: (s) => `The waiting room is very busy. Trying again in ${s} s…`,
  offline: (s) => `Cannot reach the waiting room. Trying again in ${s} s…`,
  failed: 'Something went wrong. Please reload the page.',

  modeLabel: 'Updates:',
  modeLive: 'live',
  modePolling: 'polling',
};
