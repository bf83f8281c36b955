from smh import SharedMemoryHandlee

# Create a shared memory object with a struct format
class MySharedMemory(SharedMemoryHandlee):
    def __init__(self, length):
        super().__init__(length, struct="i")  # 'i' represents an integer

# Initialize shared memory
shared_memory = MySharedMemory(10)

# Set values
for i in range(10):
    shared_memory[i] = (i,)

# Access values
for i in range(10):
    print(shared_memory[i])

# Cleanup
del shared_memory
