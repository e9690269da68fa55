/** Why `devox learn` cannot make a candidate (too little data, a base it cannot learn on...). */
export class LearnError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LearnError';
  }
}
