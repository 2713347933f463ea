package web

// keepBuf is the largest read buffer a connection keeps between frames;
// a bigger one, grown for a big frame, is dropped so idle connections stay
// small.
const keepBuf = 4 << 10
