#version 330 core
// A full-viewport quad (two triangles from gl_VertexID, no vertex data) drawn before the
// object, so that its antialiased edges blend into the background (backdrop.frag).

out float gl_ClipDistance[4];  // the object's clip planes may be on: never clip the quad

void main() {
    vec2 corner = vec2(float((gl_VertexID & 1) << 1) - 1.0, float(gl_VertexID & 2) - 1.0);
    gl_Position = vec4(corner, 0.0, 1.0);
    for (int i = 0; i < 4; ++i) gl_ClipDistance[i] = 1.0;
}
